#pragma once
// systemd's two protocols for daemons, through Debian's libsystemd (linked
// privately: this header needs none of it).
//
// Socket activation: systemd (or systemd-socket-activate, or a master
// handing its listeners to a new binary) binds the sockets and passes them
// as descriptors 3, 4, ... with LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES.
// Serve on one with BaseServer::adopt_socket() (make_server() takes a
// Socket), which checks its type and family and borrows it: a restart loses
// none of the connections queued on it meanwhile.
//
//   auto sockets = switchboard::systemd::listen_sockets();
//   if (!sockets.empty()) server->adopt_socket(std::move(sockets.front().socket));
//
// Notification (Type=notify units): notify("READY=1") once serving,
// notify("STOPPING=1") when a drain begins, notify("STATUS=...") any time.

#include <string>
#include <string_view>
#include <vector>

#include "switchboard/socket.hpp"

namespace switchboard::systemd {

/// A descriptor passed by socket activation, and its name.
struct ListenSocket {
  Socket socket;     ///< close-on-exec; a socket, or whatever the unit passed (a FIFO, ...)
  std::string name;  ///< FileDescriptorName= (LISTEN_FDNAMES); "unknown" if the unit gave none
};

/// The descriptors socket activation passed to this process, in order; none
/// unless LISTEN_PID is this process. LISTEN_FDS, LISTEN_PID and
/// LISTEN_FDNAMES are unset whatever they said, so that the processes this
/// one starts do not take them for theirs: call it once, early, before
/// other threads read the environment. Throws std::system_error when the
/// variables are malformed.
std::vector<ListenSocket> listen_sockets();

/// Tells the service manager `state`: one or more "NAME=value" lines
/// ("READY=1", "STOPPING=1", "RELOADING=1", "STATUS=serving on ..."). A
/// no-op without NOTIFY_SOCKET; true if sent. A failure to send is not an
/// error worth stopping a server for: false. Thread safe.
bool notify(std::string_view state);

}  // namespace switchboard::systemd
