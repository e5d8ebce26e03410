#pragma once
// Internal: one accepted connection under the reactor whose handler lives on
// a loop, from hand-over to close (a blocking handler's connection is served
// whole on a worker instead: Reactor::submit_whole()):
//   coroutine    an AsyncStreamRequestHandler: awaited on its loop, for life.
//   restartable  handle() runs on a worker until its reader finds nothing at
//                a request boundary, where it unwinds (Parked); the loop waits
//                for the next bytes and hands it to a worker again (Tomcat
//                NIO's keep-alive shape). setup() and finish() run once.
// Its handler runs in a HandlerRun, as under every policy; this object is the
// policy's part: the loop, the park, the reader's wait at a boundary.
// Exactly one close: the destructor's, wherever the object ends.

#include <asio/awaitable.hpp>
#include <chrono>
#include <memory>

#include "../connections.hpp"
#include "../handler_run.hpp"
#include "async_connection.hpp"
#include "switchboard/detail/workers.hpp"

namespace switchboard::detail {

class EventLoop;
class Reactor;

class StreamConnection final : private Job, private RequestBoundary {
 public:
  /// Serves an accepted connection whose handler is a coroutine or
  /// restartable; `made` if it was made already. Serving thread. Never
  /// throws: a failure is reported and closes the connection.
  static void start(Reactor& reactor, Request request, HandlerKind kind,
                    std::unique_ptr<BaseRequestHandler> made) noexcept;

  /// Ends the handler (finish(), its error reported) and closes the
  /// connection. Its loop's thread once the descriptor has been lent to Asio.
  ~StreamConnection();

 private:
  StreamConnection(Reactor& reactor, EventLoop& loop, Request request, HandlerRun::Mode mode,
                   std::unique_ptr<BaseRequestHandler> made);

  /// Its entry among the server's open connections (made at accept): the
  /// drain sees it idle there, the close deadline cuts it.
  ActiveConnection& node() { return *request_.entry; }
  bool lend_to_loop() noexcept;
  // coroutine
  static void start_coroutine(std::unique_ptr<StreamConnection> self);
  asio::awaitable<void> serve_coroutine(std::unique_ptr<StreamConnection> self);
  // restartable
  void run() noexcept override;
  std::size_t next_request(ActiveConnection& c, Socket& s, char* into, std::size_t size,
                           std::chrono::steady_clock::time_point first_deadline) override;
  void first_request_read() noexcept override { first_request_read_ = true; }
  static void park(std::unique_ptr<StreamConnection> self);
  static void resubmit(std::unique_ptr<StreamConnection> self);
  void end_on_worker();

  Reactor& reactor_;
  EventLoop& loop_;
  const std::chrono::steady_clock::time_point accepted_ = std::chrono::steady_clock::now();
  Request request_;
  HandlerRun run_;
  std::unique_ptr<AsyncConnection> async_;  // once the descriptor is lent to the loop
  long linger_ns_ = 0;                      // ServerOptions::park_linger
  // Each handed between a worker and the loop through a queue or a post.
  bool started_ = false;             // its first worker ran start()
  bool expired_ = false;             // timed out while parked: its next read throws
  bool first_request_read_ = false;  // no first-request deadline once parked
};

}  // namespace switchboard::detail
