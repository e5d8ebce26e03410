#include "switchboard/thread_pool.hpp"

#include <concurrentqueue/blockingconcurrentqueue.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace switchboard::detail {

// Idle workers spin only briefly before sleeping: with 16 workers on 2 cores a
// long spin takes the CPU from the thread that would feed them
// (bench/micro BM_PoolQueue/16: 293k items/s at moodycamel's 10000 spins, 364k at 100).
struct QueueTraits : moodycamel::ConcurrentQueueDefaultTraits {
  static const int MAX_SEMA_SPINS = 100;
};

// The queue is unbounded; `queued` bounds it exactly (moodycamel's own
// capacity rounds up to whole blocks). A request with neither a connection nor
// a reply socket is the sentinel that stops one worker.
struct WorkerPool::State {
  State(const ServerOptions& o, std::atomic<std::uint64_t>& q, std::function<void(Request&)> r)
      : max_queued(o.max_queued), queued(q), run(std::move(r)) {}

  bool try_reserve() {
    auto n = queued.load();
    while (n < max_queued) {
      if (queued.compare_exchange_weak(n, n + 1)) return true;
    }
    return false;
  }

  // A worker took a request off the queue: wake whoever waits for room.
  void release() {
    queued.fetch_sub(1);
    if (waiters.load() > 0) {
      std::lock_guard lock(mutex);
      changed.notify_all();
    }
  }

  void work() {
    moodycamel::ConsumerToken token(queue);
    Request request;
    for (;;) {
      queue.wait_dequeue(token, request);
      if (!request.connection && !request.reply_socket) return;
      release();
      if (discard.load()) {  // past the close deadline: close unserved
        request = Request{};
        continue;
      }
      run(request);
      request = Request{};
    }
  }

  const std::uint64_t max_queued;
  std::atomic<std::uint64_t>& queued;
  std::function<void(Request&)> run;
  moodycamel::BlockingConcurrentQueue<Request, QueueTraits> queue;
  std::mutex mutex;
  std::condition_variable changed;
  std::atomic<int> waiters{0};
  std::atomic<bool> discard{false};
  std::vector<std::thread> threads;
};

WorkerPool::WorkerPool(const ServerOptions& options, std::atomic<std::uint64_t>& queued,
                       std::function<void(Request&)> run) {
  if (options.max_queued == 0) throw std::invalid_argument("max_queued must be at least 1");
  state_ = std::make_unique<State>(options, queued, std::move(run));
  if (options.threads == 0) throw std::invalid_argument("a pool needs at least one thread");
  const std::size_t n = options.threads;
  state_->threads.reserve(n);
  try {
    for (std::size_t i = 0; i < n; ++i)
      state_->threads.emplace_back([s = state_.get()] { s->work(); });
  } catch (...) {
    close(std::chrono::steady_clock::now(), [] {});
    throw;
  }
}

WorkerPool::~WorkerPool() {
  close(std::chrono::steady_clock::now(), [] {});
}

bool WorkerPool::submit(Request& request, Overload overload,
                        const std::function<bool()>& stopping) {
  State& s = *state_;
  if (!s.try_reserve()) {
    if (overload == Overload::refuse) return false;
    std::unique_lock lock(s.mutex);
    ++s.waiters;
    bool reserved = false;
    s.changed.wait(lock, [&] { return (reserved = s.try_reserve()) || stopping(); });
    --s.waiters;
    if (!reserved) return false;
  }
  if (!s.queue.enqueue(std::move(request))) {
    s.queued.fetch_sub(1);
    throw std::bad_alloc();
  }
  return true;
}

void WorkerPool::interrupt() {
  std::lock_guard lock(state_->mutex);
  state_->changed.notify_all();
}

void WorkerPool::close(std::chrono::steady_clock::time_point deadline,
                       const std::function<void()>& force) {
  State& s = *state_;
  if (s.threads.empty()) return;
  // The acceptor has stopped, so once the queue is empty no request can land
  // behind the sentinels (which may come out of another producer's sub-queue).
  {
    std::unique_lock lock(s.mutex);
    ++s.waiters;
    if (!s.changed.wait_until(lock, deadline, [&] { return s.queued.load() == 0; })) {
      s.discard = true;
      lock.unlock();
      force();
      lock.lock();
      s.changed.wait(lock, [&] { return s.queued.load() == 0; });
    }
    --s.waiters;
  }
  for (std::size_t i = 0; i < s.threads.size(); ++i) s.queue.enqueue(Request{});
  // Requests still running past the deadline have their connections shut down.
  std::thread watchdog;
  std::mutex done_mutex;
  std::condition_variable done_changed;
  bool done = false;
  if (!s.discard && deadline > std::chrono::steady_clock::now()) {
    watchdog = std::thread([&] {
      std::unique_lock lock(done_mutex);
      if (!done_changed.wait_until(lock, deadline, [&] { return done; })) force();
    });
  } else if (!s.discard) {
    force();
  }
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  if (watchdog.joinable()) {
    {
      std::lock_guard lock(done_mutex);
      done = true;
    }
    done_changed.notify_all();
    watchdog.join();
  }
}

std::size_t WorkerPool::workers() const { return state_->threads.size(); }
std::size_t WorkerPool::queued() const { return state_->queued.load(); }

}  // namespace switchboard::detail
