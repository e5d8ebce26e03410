#pragma once
// Internal: the reactor's worker threads, for blocking-style handlers. Started
// on first use, so a server of coroutine handlers has loops and nothing else.

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace switchboard::detail {

/// Work for a worker thread.
class Job {
 public:
  /// Runs on a worker; may delete the job.
  virtual void run() noexcept = 0;
  virtual ~Job() = default;
};

class Workers {
 public:
  explicit Workers(std::size_t threads);
  ~Workers();
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  /// Queues `job`, starting the threads first if need be. Throws
  /// std::system_error if no thread could be started. Thread safe.
  void submit(Job& job);
  /// Runs what is queued, then joins. Idempotent. Thread safe; not from a worker.
  void close();
  /// Threads running now. Thread safe.
  std::size_t started() const { return started_.load(std::memory_order_acquire); }
  /// Jobs queued and not yet taken by a worker. Thread safe.
  const std::atomic<std::size_t>& waiting() const { return waiting_; }
  /// Called on a worker after it takes a job, while someone waits for room
  /// (want_room()). Set once, before the first submit().
  void on_room(std::function<void()> notify) { on_room_ = std::move(notify); }
  /// One more (+1) or one fewer (-1) waiting for room: while any wait, each
  /// job taken calls on_room. Sequentially consistent with taking a job, so a
  /// waiter that counts itself and then looks at waiting() misses none.
  void want_room(int delta) { room_wanted_.fetch_add(delta); }

 private:
  void start();

  struct Queue;
  std::unique_ptr<Queue> queue_;
  const std::size_t threads_;
  std::atomic<std::size_t> started_{0};
  std::atomic<bool> closed_{false};
  std::atomic<std::size_t> waiting_{0};
  std::atomic<int> room_wanted_{0};
  std::function<void()> on_room_;
  std::mutex mutex_;
  std::vector<std::thread> running_;
};

}  // namespace switchboard::detail
