#pragma once
// ThreadingMixIn: a thread of its own for each connection or datagram. A
// thread that finished its request waits a moment (kKeepIdle) for the next
// one instead of exiting, which spares a thread creation per request under
// load; idle threads then exit and are joined at the next request, so memory
// follows recent concurrency, not the number of requests served. options().max_threads caps
// concurrency (0: no cap) with options().overload deciding what happens at it.
// server_close() waits for handler threads when block_on_close (up to
// close_timeout, then their connections are shut down and they are joined);
// otherwise it returns at once and the destructor does the joining, since a
// C++ thread cannot outlive the server it calls into.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <list>
#include <mutex>
#include <thread>
#include <type_traits>

#include "switchboard/server.hpp"

namespace switchboard {
namespace detail {

/// The threads a server started per request. Thread safe.
class HandlerThreads {
 public:
  /// How long a thread that finished its request waits for another.
  static constexpr std::chrono::milliseconds kKeepIdle{1000};

  /// When idle threads hear of requests given to them: at once (`each`), or
  /// at announce() (`at_announce`), which a datagram server calls once per
  /// batch received. Then one thread wakes for the batch, and wakes another
  /// only if it leaves requests behind with no idle thread awake: on a single
  /// core, a datagram does not cost a switch to a thread of its own.
  enum class Wake { each, at_announce };

  HandlerThreads(std::function<void(Request&)> run, Wake wake,
                 std::chrono::milliseconds keep_idle = kKeepIdle)
      : run_(std::move(run)), wake_(wake), keep_idle_(keep_idle) {}
  ~HandlerThreads() { join_all(); }

  /// Runs the request on an idle thread, or a new one; throws
  /// std::system_error if none can be made.
  void start(Request request);
  /// Wakes an idle thread for the requests given since the last call, if none is awake.
  void announce();
  /// Joins threads that have finished.
  void prune();
  /// Threads running a request.
  std::size_t running() const;
  /// Thread objects held: running, idle, or finished and not yet joined.
  std::size_t tracked() const;
  /// Waits until fewer than `limit` run; false if `stopping()` became true.
  bool wait_below(std::size_t limit, const std::function<bool()>& stopping);
  /// Wakes wait_below() to look at `stopping` again.
  void interrupt();
  /// Waits until `deadline` for all to finish, calls `force` if some did not,
  /// then joins them all.
  void close(std::chrono::steady_clock::time_point deadline, const std::function<void()>& force);
  void join_all();

 private:
  // An idle thread asleep: a node of sleepers_, on the thread's own stack, so
  // that going to sleep allocates nothing.
  struct Sleeper {
    std::condition_variable wake;
    bool woken = false;
    Sleeper* prev = this;
    Sleeper* next = this;
  };

  void serve(std::list<std::thread>::iterator self, Request request);
  void wake_one();
  void link(Sleeper& s);
  void unlink(Sleeper& s);
  void begin_closing();

  std::function<void(Request&)> run_;
  const Wake wake_;
  const std::chrono::milliseconds keep_idle_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;  // a request ended, or a thread finished
  std::list<std::thread> threads_;   // running or idle
  std::list<std::thread> finished_;
  std::deque<Request> handoff_;  // requests given to idle threads, not yet taken
  std::size_t idle_ = 0;         // idle threads no request is promised to
  std::size_t awake_ = 0;        // idle threads not asleep: each looks at handoff_ before sleeping
  Sleeper sleepers_;             // the list's head: idle threads asleep, the latest last
  std::atomic<bool> any_finished_{false};  // finished_ is not empty: prune() has work
  bool closing_ = false;
};

}  // namespace detail

template <class Server>
class ThreadingMixIn : public Server {
 public:
  using Server::Server;
  ~ThreadingMixIn() override {
    this->shutdown();
    Server::server_close();
    close_threads();
  }

  void server_close() override {
    const bool wait = this->options().block_on_close;
    if constexpr (std::is_base_of_v<DatagramServer, Server>) {
      if (wait) close_threads();  // replies still being sent need the socket
      Server::server_close();
    } else {
      Server::server_close();  // refuses new connects, ends idle connections
      if (wait) close_threads();
    }
  }
  /// Handler threads running now. Thread safe.
  std::size_t active_threads() const { return threads_.running(); }
  /// Thread objects held (running, or finished and not yet joined). Thread safe.
  std::size_t tracked_threads() const { return threads_.tracked(); }

 protected:
  void process_request(Request request) override {
    threads_.prune();
    const std::size_t cap = this->options().max_threads;
    if (cap != 0 && threads_.running() >= cap) {
      if (this->options().overload == Overload::refuse ||
          !threads_.wait_below(cap, [this] { return this->shutdown_requested(); })) {
        this->refuse(request);
        return;
      }
    }
    threads_.start(std::move(request));
  }
  void end_of_batch() override {
    Server::end_of_batch();
    threads_.announce();
  }
  void service_actions() override {
    Server::service_actions();
    threads_.prune();
  }
  void interrupt_waits() override {
    Server::interrupt_waits();
    threads_.interrupt();
  }
  void add_policy_stats(ServerStats& stats) const override {
    Server::add_policy_stats(stats);
    stats.threads += threads_.running();
  }

 private:
  void close_threads() {
    threads_.close(this->close_deadline(), [this] { this->close_active_connections(); });
  }

  detail::HandlerThreads threads_{[this](Request& r) { this->finish_and_close(r); },
                                  std::is_base_of_v<DatagramServer, Server>
                                      ? detail::HandlerThreads::Wake::at_announce
                                      : detail::HandlerThreads::Wake::each};
};

using ThreadingTCPServer = ThreadingMixIn<TCPServer>;
using ThreadingUDPServer = ThreadingMixIn<UDPServer>;
using ThreadingUnixStreamServer = ThreadingMixIn<UnixStreamServer>;
using ThreadingUnixDatagramServer = ThreadingMixIn<UnixDatagramServer>;

}  // namespace switchboard
