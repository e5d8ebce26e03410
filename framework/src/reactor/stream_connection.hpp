#pragma once
// Internal: one accepted connection under the reactor, from hand-over to
// close, in the style its handler asks for:
//   coroutine    an AsyncStreamRequestHandler: awaited on its loop, for life.
//   restartable  a StreamRequestHandler with `restartable` set: handle() runs
//                on a worker until it reads at an idle request boundary, where
//                it unwinds (Parked); the loop waits for the next bytes and
//                hands it to a worker again (Tomcat NIO's keep-alive shape).
//                setup() and finish() run once.
//   whole        any other handler: served whole on a worker, as the pool does
//                (Reactor::submit_whole()).
// Exactly one close: the destructor's, wherever the object ends.

#include <asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <optional>

#include "../connections.hpp"
#include "../counters.hpp"
#include "../server_access.hpp"
#include "async_connection.hpp"
#include "workers.hpp"

namespace switchboard::detail {

class EventLoop;
class Reactor;

class StreamConnection final : private Job {
 public:
  /// Serves an accepted connection. Serving thread. Never throws: a failure
  /// is reported through handle_error() and closes the connection.
  static void start(Reactor& reactor, Request request) noexcept;

  /// Closes the connection (shutdown_request()), if it still has it. Its loop's
  /// thread once the descriptor has been lent to Asio.
  ~StreamConnection();

 private:
  StreamConnection(Reactor& reactor, EventLoop& loop, Request request);

  /// Its entry among the server's open connections (made at accept): the
  /// drain sees it idle there, the close deadline cuts it.
  ActiveConnection& node() { return *request_.entry; }
  /// False if the drain ended it while it waited to be started.
  bool take();
  // coroutine
  static void start_coroutine(std::unique_ptr<StreamConnection> self);
  asio::awaitable<void> serve_coroutine(std::unique_ptr<StreamConnection> self);
  // restartable
  void run() noexcept override;
  bool serve_on_worker() noexcept;
  static void park(std::unique_ptr<StreamConnection> self);
  static void resubmit(std::unique_ptr<StreamConnection> self);
  void end_on_worker();

  void report(std::exception_ptr error) noexcept;
  bool lend_to_loop() noexcept;

  Reactor& reactor_;
  EventLoop& loop_;
  const std::chrono::steady_clock::time_point accepted_ = std::chrono::steady_clock::now();
  Request request_;
  std::unique_ptr<BaseRequestHandler> handler_;
  std::unique_ptr<AsyncConnection> async_;  // once the descriptor is lent to the loop
  std::optional<ActiveRequest> active_;     // a coroutine handler's, for its life
  bool set_up_ = false;
  bool handed_over_ = false;  // served whole elsewhere: nothing to close here
};

}  // namespace switchboard::detail
