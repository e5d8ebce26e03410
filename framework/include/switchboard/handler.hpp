#pragma once
// The handler API: subclass one, override handle(), and hand
// switchboard::handler<YourHandler> to a server. One handler object serves one
// connection (or one datagram): setup(); handle(); finish().

#include <memory>
#include <string>

#include "switchboard/address.hpp"
#include "switchboard/handler_factory.hpp"
#include "switchboard/request.hpp"
#include "switchboard/server.hpp"
#include "switchboard/stream.hpp"

namespace switchboard {
namespace detail {
class HandlerRun;
class ReplySink;
}  // namespace detail
class AsyncStreamRequestHandler;
class AsyncDatagramRequestHandler;

class BaseRequestHandler {
 public:
  virtual ~BaseRequestHandler() = default;
  /// Before handle(): prepare.
  virtual void setup() {}
  /// Serve the request.
  virtual void handle() {}
  /// After handle(), also when it threw: clean up.
  virtual void finish() {}

  Request& request() const { return *request_; }
  const Address& client_address() const { return request_->client_address; }
  BaseServer& server() const { return *server_; }

 private:
  friend class detail::HandlerRun;
  friend class AsyncStreamRequestHandler;
  friend class AsyncDatagramRequestHandler;
  // Set by the coroutine bases: a factory that hides the handler's type
  // (HandlerFactory::kind_known()) is told by each handler it makes.
  HandlerKind kind_ = HandlerKind::blocking;
  Request* request_ = nullptr;
  BaseServer* server_ = nullptr;
};

/// A connection with buffered rfile/wfile; wfile is flushed before every read
/// that waits and by finish().
class StreamRequestHandler : public BaseRequestHandler {
 public:
  void setup() override;
  void finish() override;

  StreamReader rfile;
  StreamWriter wfile;
  // A handler that keeps nothing on its stack between requests declares
  //   static constexpr bool restartable = true;
  // (or is served with restartable_handler<H>). The reactor then parks an
  // idle connection on its event loop instead of holding a worker: a read at
  // a request boundary with nothing buffered and nothing to read throws
  // `Parked` (let it pass), and handle() runs again, on the same object, once
  // the next bytes arrive. setup() and finish() run once per connection.
  // Other policies run it as any handler.
};

/// One datagram: rfile reads packet(); what is written to wfile (an empty
/// write included) goes back to the sender as one datagram; nothing written,
/// nothing sent.
class DatagramRequestHandler : public BaseRequestHandler {
 public:
  void setup() override;
  void finish() override;
  const std::string& packet() const { return request().packet; }
  /// Sends a datagram of its own, now, from the server's socket (Python's
  /// socket.sendto()): to the client, or anywhere. Waits for room up to
  /// options().write_timeout. Throws std::system_error.
  void send_to(std::string_view data, const Address& to);

  StreamReader rfile;
  StreamWriter wfile;

 private:
  friend class detail::HandlerRun;
  detail::ReplySink* sink_ = nullptr;  // the reactor's batch of replies, when it serves this one
};

}  // namespace switchboard
