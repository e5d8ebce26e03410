#pragma once
// Internal: the reactor behind ReactorMixIn (ReactorCore's state). The
// serving thread accepts (BaseServer's loop, as for every policy) and hands
// each connection over here; connections are spread over the loops round
// robin; blocking handlers run on the worker engine (options().threads,
// started on first use), admitted as the pool admits them: at most threads +
// max_queued served or waiting. Datagram servers have their loops read the
// socket themselves, in batches.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "event_loop.hpp"
#include "switchboard/detail/limit.hpp"
#include "switchboard/detail/workers.hpp"
#include "switchboard/handler.hpp"

namespace switchboard::detail {

class DatagramLoop;

class Reactor {
 public:
  explicit Reactor(BaseServer& server);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  /// process_request(). Serving thread.
  void serve(Request request);
  /// Wakes the serving thread if it waits for a worker's place. Thread safe.
  void interrupt() { places_.interrupt(); }
  /// serve_until_shutdown() of a datagram server. Serving thread.
  void serve_datagrams();
  /// The loops stop reading datagrams (serve_datagrams() returns). Thread safe.
  void stop_receiving();
  /// The server drains: each loop ends its coroutine connections that wait
  /// for a next request (on the loop, so that none has taken a byte of it). Thread safe.
  void drain_loops();
  /// server_close(): waits until `deadline` for what is being served, cuts
  /// what remains, then joins workers and loops. Idempotent. Not from a loop or worker.
  void close(std::chrono::steady_clock::time_point deadline);

  std::size_t loop_count() const { return loop_threads_.load(std::memory_order_relaxed); }
  std::size_t worker_count() const { return workers_.threads(); }
  std::size_t queued() const { return workers_.queued(); }

  // For the connections and datagram loops.
  BaseServer& server() { return server_; }
  EventLoop& next_loop();
  Workers& workers() { return workers_; }
  /// Blocking handlers' places: a connection holds one for its life, a
  /// datagram until its handler ends (restartable connections, parked
  /// between requests, hold none).
  Limit& places() { return places_; }
  /// A connection (or a datagram on a worker) starts / ends. Thread safe.
  void opened();
  void closed();
  /// Hands `request`, which holds one of places(), to a worker, served whole
  /// as the pool serves it, with its handler if one was `made`. Never
  /// throws: a failure is reported and closes the request.
  void submit_whole(Request request, std::unique_ptr<BaseRequestHandler> made) noexcept;

 private:
  bool wait_idle(std::chrono::steady_clock::time_point deadline);

  BaseServer& server_;
  Limit places_;
  Workers workers_;
  std::vector<std::unique_ptr<DatagramLoop>> datagram_loops_;  // outlive the loops' coroutines
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::atomic<std::size_t> loop_threads_{0};
  std::atomic<std::size_t> next_{0};
  std::atomic<bool> closed_{false};
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t live_ = 0;        // connections and datagram jobs not yet ended
  std::mutex receiving_mutex_;  // receiving_, datagram_loops_; loops_ while drain_loops() posts
  bool receiving_ = false;      // the datagram loops read the socket
};

}  // namespace switchboard::detail
