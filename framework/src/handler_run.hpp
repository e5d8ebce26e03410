#pragma once
// Internal: one request's handler, from its making to its close: the one place
// its lifecycle runs, for every policy and every handler kind (CPython's
// process_request_thread() and BaseRequestHandler.__init__ together).
//
//   start()    finish_request(): the handler made, setup(); then, by mode,
//                blocking  handle(), finish()
//                parking   handle() until it ends, or parks at a request boundary
//                awaited   nothing more: its loop awaits handle_async()
//   resume()   a parked handler's next request: handle() again
//   end()      finish() if it has not run; the first error counted, and
//              reported through handle_error(); shutdown_request()
//
// Errors are kept, not thrown: the first one is the one reported.

#include <exception>
#include <memory>
#include <optional>

#include "counters.hpp"
#include "switchboard/handler.hpp"

namespace switchboard::detail {

class ReplySink;

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

class HandlerRun {
 public:
  enum class Mode { blocking, parking, awaited };

  /// `made`: a handler already made for this request (the reactor made it to
  /// learn its kind), which finish_request() then uses.
  HandlerRun(BaseServer& server, Request& request, Mode mode = Mode::blocking,
             std::unique_ptr<BaseRequestHandler> made = nullptr);
  ~HandlerRun() { end(); }
  HandlerRun(const HandlerRun&) = delete;
  HandlerRun& operator=(const HandlerRun&) = delete;

  /// finish_request(), on the thread that starts the handler.
  void start() noexcept;
  /// A parked handler's next request. A worker thread.
  void resume() noexcept;
  /// handle() unwound at a request boundary (parking): resume() it later.
  bool parked() const { return parked_; }
  /// The handler, once start() made it; null if it failed before.
  BaseRequestHandler* handler() const { return handler_.get(); }
  /// Whether an awaited handler is set up and waits for its handle_async().
  bool awaiting() const { return mode_ == Mode::awaited && set_up_ && !finished_; }
  /// An error of the awaited part (handle_async(), the flush after it).
  void fail(std::exception_ptr error) noexcept;
  /// The parking reader threw Parked: if handle() now returns or throws
  /// something else, the handler swallowed it, which is reported.
  void park_thrown() noexcept { park_thrown_ = true; }
  /// finish() if due, the handler destroyed, the error counted and reported;
  /// then shutdown_request(). Once; true if no error came.
  bool end() noexcept {
    done();
    close();
    return !error_;
  }
  /// end()'s first half, for a connection whose descriptor Asio must forget
  /// before it closes.
  void done() noexcept;
  /// end()'s second half: shutdown_request(), once.
  void close() noexcept;

  /// BaseServer::finish_request(): serves the run that called it.
  static void serve(BaseServer& server, Request& request);
  /// A handler from the server's factory, bound to `request`. Throws
  /// std::logic_error if the factory made none.
  static std::unique_ptr<BaseRequestHandler> make(BaseServer& server, Request& request);
  /// A datagram over max_datagram: counted, reported through handle_error(), never served.
  static void dropped(BaseServer& server, const Request& request, std::size_t size) noexcept;
  /// What a made handler says it is (a coroutine, or not).
  static HandlerKind kind_of(const BaseRequestHandler& handler);
  /// An awaited datagram handler's reply goes into `sink` (its loop's batch).
  void reply_to(ReplySink* sink) noexcept;
  /// Counts `error` (a timeout, a vanished peer, a cut connection) or reports
  /// it through handle_error().
  static void report(BaseServer& server, const Request& request, std::exception_ptr error) noexcept;

 private:
  void serve();
  void run_handle();
  void finish_once();

  BaseServer& server_;
  Request& request_;
  const Mode mode_;
  std::unique_ptr<BaseRequestHandler> handler_;
  std::optional<ActiveRequest> active_;
  std::exception_ptr error_;
  bool set_up_ = false;
  bool finished_ = false;
  bool parked_ = false;
  bool park_thrown_ = false;
  bool done_ = false;
  bool closed_ = false;
};

}  // namespace switchboard::detail
