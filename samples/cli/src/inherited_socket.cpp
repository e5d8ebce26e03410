#include "inherited_socket.hpp"

#include <iostream>
#include <sstream>
#include <utility>

#include "switchboard/systemd.hpp"

namespace switchboard::cli {

std::optional<Socket> inherited_socket(std::size_t fd, const std::string& program) {
  if (fd != 0) return Socket(static_cast<int>(fd));
  auto sockets = systemd::listen_sockets();
  if (sockets.empty()) return std::nullopt;
  if (sockets.size() > 1) {
    // One server serves one socket: the first, as a unit with one
    // ListenStream= would pass it. Refusing would leave the others unserved too.
    std::ostringstream line;
    line << program << ": socket activation passed " << sockets.size()
         << " sockets; serving on the first (descriptor " << sockets.front().socket.fd()
         << ", named " << sockets.front().name << ")\n";
    std::cerr << line.str() << std::flush;
  }
  return std::move(sockets.front().socket);
}

}  // namespace switchboard::cli
