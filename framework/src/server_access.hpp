#pragma once
// Internal: what the reactor (framework/src/reactor/) needs of a server and of
// its handlers beyond the public hooks. The reactor runs the lifecycle's
// pieces itself (a connection's handler lives across parks, a coroutine
// handler is awaited on a loop), so it reaches them here, in one place.

#include <atomic>
#include <memory>

#include "connections.hpp"
#include "counters.hpp"
#include "switchboard/handler.hpp"
#include "switchboard/server.hpp"

namespace switchboard {
class AsyncStreamRequestHandler;
}

namespace switchboard::detail {

class AsyncConnection;

struct ServerAccess {
  /// A new handler from the server's factory, bound to `request`. Throws
  /// std::logic_error if the factory returned none.
  static std::unique_ptr<BaseRequestHandler> make_handler(BaseServer& s, Request& request) {
    std::unique_ptr<BaseRequestHandler> h = s.factory_();
    if (!h) throw std::logic_error("handler factory returned no handler");
    h->request_ = &request;
    h->server_ = &s;
    return h;
  }
  static void set_reply_sink(DatagramRequestHandler& h, ReplySink* sink) { h.sink_ = sink; }
  /// A coroutine handler for streams (an AsyncStreamRequestHandler), without a dynamic_cast.
  static bool is_stream_coroutine(const BaseRequestHandler& h) {
    return h.coroutine_ == BaseRequestHandler::Coroutine::stream;
  }
  /// A coroutine handler for datagrams (an AsyncDatagramRequestHandler).
  static bool is_datagram_coroutine(const BaseRequestHandler& h) {
    return h.coroutine_ == BaseRequestHandler::Coroutine::datagram;
  }
  /// Points a coroutine handler's rfile and wfile at `conn` (defined in reactor/async_stream.cpp).
  static void bind(AsyncStreamRequestHandler& h, AsyncConnection& conn);
  static void unbind(AsyncStreamRequestHandler& h);

  static bool verify_request(BaseServer& s, const Request& r) { return s.verify_request(r); }
  static bool finish_and_close(BaseServer& s, Request& r) noexcept { return s.finish_and_close(r); }
  /// shutdown_request(), whose exceptions go nowhere: the close happens once, here.
  static void shutdown_request(BaseServer& s, Request& r) noexcept {
    try {
      s.shutdown_request(r);
    } catch (...) {
    }
  }
  /// Inside a catch block: counts the handler's error (a vanished peer apart)
  /// and reports it through handle_error().
  static void handler_failed(BaseServer& s, const Request& r) noexcept;
  /// An overload limit refused `r`: refuse_request(), counted, closed.
  static void refuse(BaseServer& s, Request& r) noexcept { s.refuse(r); }
  /// Counts a datagram too large for max_datagram and reports it through handle_error().
  static void datagram_dropped(BaseServer& s, const Request& r, std::size_t size) noexcept;

  static Counters& counters(BaseServer& s) { return *s.counters_; }
  static ActiveSet& active_set(BaseServer& s) { return *s.active_; }
  static const std::atomic<bool>& draining(const BaseServer& s) { return s.draining_; }
  static void close_active_connections(BaseServer& s) { s.close_active_connections(); }
  /// shutdown()'s request, without waiting: serve_forever() returns soon. Thread safe.
  static void stop(BaseServer& s) { s.request_stop(); }
  static std::shared_ptr<Socket> socket(const BaseServer& s) { return s.socket_; }
  /// Blocks until shutdown() is called (or has been). Serving thread.
  static void wait_for_shutdown(BaseServer& s);
};

/// active_requests and max_active, for a request being served from here to the end of scope.
class ActiveRequest {
 public:
  explicit ActiveRequest(Counters& c) : c_(c) {
    const auto n = c.active_requests.fetch_add(1, std::memory_order_relaxed) + 1;
    for (auto seen = c.max_active.load(std::memory_order_relaxed);
         n > seen && !c.max_active.compare_exchange_weak(seen, n, std::memory_order_relaxed);) {
    }
  }
  ~ActiveRequest() { c_.active_requests.fetch_sub(1, std::memory_order_relaxed); }
  ActiveRequest(const ActiveRequest&) = delete;
  ActiveRequest& operator=(const ActiveRequest&) = delete;

 private:
  Counters& c_;
};

}  // namespace switchboard::detail
