#pragma once
// The client side, in the handlers' terms: a connection to a stream server
// with the same buffered rfile and wfile a StreamRequestHandler has (Python's
// socket.create_connection() and makefile()), for clients, tests and tools.
//
//   auto c = switchboard::connect({"127.0.0.1", 9999});
//   c->wfile.write("hello\n");
//   std::string reply = c->rfile.readline();  // flushes wfile first
//
// A datagram goes out with Socket::send_to().

#include <cstddef>
#include <memory>

#include "switchboard/address.hpp"
#include "switchboard/options.hpp"
#include "switchboard/socket.hpp"
#include "switchboard/stream.hpp"

namespace switchboard {

class ClientConnection {
 public:
  /// Connects to a TCP or Unix stream server at `to`, waiting at most
  /// `timeout` (0: the system's limit). Each read and write then waits at
  /// most `timeout` too (errc::timed_out). Throws std::system_error naming
  /// the address (ECONNREFUSED, ETIMEDOUT, ...).
  explicit ClientConnection(const Address& to, Seconds timeout = Seconds{10},
                            std::size_t max_line = 64 * 1024);
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  /// Flushes wfile, then ends this side's sending: the server reads the end
  /// of input, and may still answer.
  void shutdown_write();
  const Socket& socket() const { return socket_; }

 private:
  Socket socket_;  // before rfile and wfile, which point at it

 public:
  StreamWriter wfile;
  StreamReader rfile;  ///< flushes wfile before it waits
};

/// A ClientConnection to `to`, as its constructor makes it.
inline std::unique_ptr<ClientConnection> connect(const Address& to, Seconds timeout = Seconds{10}) {
  return std::make_unique<ClientConnection>(to, timeout);
}

}  // namespace switchboard
