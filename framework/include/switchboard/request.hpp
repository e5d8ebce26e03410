#pragma once
// What get_request() hands to the lifecycle: an accepted connection, or one
// datagram with the socket its reply goes out on. Move-only; a connection is
// closed exactly once, by shutdown_request() or by the destructor.

#include <memory>
#include <string>

#include "switchboard/address.hpp"
#include "switchboard/socket.hpp"

namespace switchboard {

namespace detail {
struct ActiveConnection;
/// Takes the connection out of its server's set of open connections.
struct ConnectionEntryDeleter {
  void operator()(ActiveConnection* node) const noexcept;
};
using ConnectionEntry = std::unique_ptr<ActiveConnection, ConnectionEntryDeleter>;
}  // namespace detail

struct Request {
  Address client_address;                      ///< the peer (unnamed for an unbound Unix client)
  Socket connection;                           ///< stream servers: the accepted connection
  std::string packet;                          ///< datagram servers: the datagram's bytes
  std::shared_ptr<const Socket> reply_socket;  ///< datagram servers: the server's socket
  /// Stream servers: the connection among the server's open ones (declared
  /// after `connection`, so it leaves the set before the descriptor closes).
  detail::ConnectionEntry entry;

  bool is_datagram() const { return reply_socket != nullptr; }
};

}  // namespace switchboard
