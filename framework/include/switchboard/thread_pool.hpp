#pragma once
// ThreadPoolMixIn: options().threads workers fed from a bounded queue (a
// moodycamel ConcurrentQueue, bounded exactly by a counter). A connection
// wakes a worker of its own, since it holds that worker for its whole life;
// datagrams are short, so one awake worker takes all that are queued, and a
// sleeping one is woken only when none is awake, once the serving thread has
// queued all that were ready (a context switch per batch, not per datagram).
// options().max_queued counts requests waiting for a worker, not those being
// served. When it is reached, options().overload decides: `block` stops
// accepting until a worker takes one (the kernel backlog holds the rest);
// `refuse` closes the new request at once after refuse_request(), counted in
// stats().refused. Queued requests are served, never dropped, at close:
// server_close() lets the workers finish the queue within close_timeout, then
// shuts down the connections still open and joins the workers.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <type_traits>

#include "switchboard/server.hpp"

namespace switchboard {
namespace detail {

/// Worker threads and their queue. Thread safe.
class WorkerPool {
 public:
  /// How a queued request wakes a worker.
  enum class Wake {
    each,        ///< every request wakes a sleeping worker (connections)
    when_asleep  ///< only when no worker is awake to take it (datagrams)
  };
  WorkerPool(const ServerOptions& options, std::function<void(Request&)> run,
             Wake wake = Wake::each);
  ~WorkerPool();

  /// Queues `request` (moved from on success). With Overload::block waits for
  /// room; false if the queue is full (refuse) or `stopping()` became true.
  /// With Wake::when_asleep the workers hear of it at wake_for_queued().
  bool submit(Request& request, Overload overload, const std::function<bool()>& stopping);
  /// Wakes a worker for what submit() queued, if none is awake.
  void wake_for_queued();
  /// Wakes a blocked submit() to look at `stopping` again.
  void interrupt();
  /// Lets the workers finish what is queued until `deadline`; then calls
  /// `force` and joins them. Idempotent.
  void close(std::chrono::steady_clock::time_point deadline, const std::function<void()>& force);
  std::size_t workers() const;
  std::size_t queued() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace detail

template <class Server>
class ThreadPoolMixIn : public Server {
 public:
  using Server::Server;
  ~ThreadPoolMixIn() override {
    this->shutdown();
    ThreadPoolMixIn::server_close();
  }

  void server_close() override {
    if constexpr (std::is_base_of_v<DatagramServer, Server>) {
      close_pool();  // replies still being sent need the socket
      Server::server_close();
    } else {
      Server::server_close();  // refuses new connects, ends idle connections
      close_pool();
    }
  }
  /// Worker threads. Thread safe.
  std::size_t workers() const { return pool_.workers(); }

 protected:
  void process_request(Request request) override {
    if (!pool_.submit(request, this->options().overload,
                      [this] { return this->shutdown_requested(); }))
      this->refuse(request);
  }
  void end_of_batch() override {
    Server::end_of_batch();
    pool_.wake_for_queued();
  }
  void interrupt_waits() override {
    Server::interrupt_waits();
    pool_.interrupt();
  }
  void add_policy_stats(ServerStats& stats) const override {
    Server::add_policy_stats(stats);
    stats.threads += pool_.workers();
    stats.queued += pool_.queued();
  }

 private:
  void close_pool() {
    pool_.close(this->close_deadline(), [this] { this->close_active_connections(); });
  }

  detail::WorkerPool pool_{this->options(), [this](Request& r) { this->finish_and_close(r); },
                           std::is_base_of_v<DatagramServer, Server>
                               ? detail::WorkerPool::Wake::when_asleep
                               : detail::WorkerPool::Wake::each};
};

using ThreadPoolTCPServer = ThreadPoolMixIn<TCPServer>;
using ThreadPoolUDPServer = ThreadPoolMixIn<UDPServer>;
using ThreadPoolUnixStreamServer = ThreadPoolMixIn<UnixStreamServer>;
using ThreadPoolUnixDatagramServer = ThreadPoolMixIn<UnixDatagramServer>;

}  // namespace switchboard
