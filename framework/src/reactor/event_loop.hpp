#pragma once
// Internal: one event loop of the reactor, on a thread of its own: an
// io_context that only this thread runs (so Asio's reactor takes no locks for
// I/O; posting from other threads stays safe), and the sweeper of its timeouts.

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <thread>

#include "sweeper.hpp"

namespace switchboard::detail {

class EventLoop {
 public:
  explicit EventLoop(const ServerOptions& options);
  /// Stops and joins.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// Starts the thread.
  void start();
  /// Stops the loop (what is still pending is not run) and joins. Idempotent; not from the loop.
  void stop();

  asio::io_context& io() { return io_; }
  /// Loop thread only.
  Sweeper& sweeper() { return sweeper_; }

 private:
  void run() noexcept;

  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  Sweeper sweeper_;
  std::thread thread_;
};

}  // namespace switchboard::detail
