#pragma once
// The handler API: subclass one, override handle(), and hand
// switchboard::handler<YourHandler> to a server. One handler object serves one
// connection (or one datagram): setup(); handle(); finish().

#include <memory>
#include <string>

#include "switchboard/address.hpp"
#include "switchboard/request.hpp"
#include "switchboard/server.hpp"
#include "switchboard/stream.hpp"

namespace switchboard {
namespace detail {
struct ServerAccess;
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
  friend class BaseServer;
  friend struct detail::ServerAccess;
  friend class AsyncStreamRequestHandler;
  friend class AsyncDatagramRequestHandler;
  enum class Coroutine : unsigned char { none, stream, datagram };
  Request* request_ = nullptr;
  BaseServer* server_ = nullptr;
  Coroutine coroutine_ = Coroutine::none;  // set by the coroutine bases: the reactor awaits those
};

/// A connection with buffered rfile/wfile; wfile is flushed before every read
/// that waits and by finish().
class StreamRequestHandler : public BaseRequestHandler {
 public:
  void setup() override;
  void finish() override;

  StreamReader rfile;
  StreamWriter wfile;
  /// The handler keeps nothing on its stack between requests, so handle() may
  /// be unwound at a request boundary and run again later on the same object.
  /// The reactor policy then parks an idle connection on its event loop
  /// instead of holding a worker thread: a read at a request boundary with
  /// nothing buffered and nothing to read throws `Parked` (let it pass), and
  /// handle() runs again once the next bytes arrive. setup() and finish() run
  /// once per connection. Other policies ignore it. Set it in the constructor
  /// (or serve with restartable_handler<H>).
  bool restartable = false;
};

/// One datagram: rfile reads packet(); what is written to wfile (an empty
/// write included) goes back to the sender as one datagram; nothing written,
/// nothing sent.
class DatagramRequestHandler : public BaseRequestHandler {
 public:
  void setup() override;
  void finish() override;
  const std::string& packet() const { return request().packet; }

  StreamReader rfile;
  StreamWriter wfile;

 private:
  friend struct detail::ServerAccess;
  detail::ReplySink* sink_ = nullptr;  // the reactor's batch of replies, when it serves this one
};

/// The factory that makes a default-constructed `Handler` per request.
template <class Handler>
inline const HandlerFactory handler =
    [] { return std::unique_ptr<BaseRequestHandler>(std::make_unique<Handler>()); };

/// handler<Handler>, with StreamRequestHandler::restartable set: an existing
/// handler that keeps no state on its stack between requests opts in to the
/// reactor's per-request mode without being changed.
template <class Handler>
inline const HandlerFactory restartable_handler = [] {
  auto h = std::make_unique<Handler>();
  h->restartable = true;
  return std::unique_ptr<BaseRequestHandler>(std::move(h));
};

}  // namespace switchboard
