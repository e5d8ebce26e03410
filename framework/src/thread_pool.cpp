#include "switchboard/thread_pool.hpp"

#include <concurrentqueue/concurrentqueue.h>
#include <concurrentqueue/lightweightsemaphore.h>

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
constexpr int kSemaphoreSpins = 100;

// The queue is unbounded; `queued` bounds it exactly (moodycamel's own
// capacity rounds up to whole blocks). A request with neither a connection nor
// a reply socket is the sentinel that stops one worker.
//
// Wake::when_asleep keeps `awake` (workers free to take requests without
// sleeping: not asleep, and not busy with one) and `available` (requests in the
// queue). A worker going to sleep gives its place in `awake` back, then looks
// at `available`; a producer adds to `available`, then (at the end of its
// batch) wakes a worker if none is awake. Both sequentially consistent, so one
// of the two always sees the other: no request is stranded. A worker busy with
// a slow request is not awake, so the next request wakes another: nothing
// waits behind a slow one.
struct WorkerPool::State {
  State(const ServerOptions& o, std::function<void(Request&)> r, Wake w)
      : max_queued(o.max_queued), run(std::move(r)), wake(w) {}

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

  // Wake::when_asleep: the wake-up waits for wake_for_queued(), at the end of
  // the serving thread's batch: a worker woken at once takes the single core
  // from the thread still receiving, and each datagram costs two switches.
  void push(Request&& request) {
    if (!queue.enqueue(std::move(request))) throw std::bad_alloc();
    if (wake == Wake::each) {
      ready.signal();
      return;
    }
    available.fetch_add(1);
  }

  void wake_if_queued() {
    if (available.load() > 0) wake_if_none_awake();
  }

  void wake_if_none_awake() {
    int none = 0;
    if (awake.load() == 0 && awake.compare_exchange_strong(none, 1)) ready.signal();
  }

  // Serves one request; false for the sentinel.
  bool serve(Request& request) {
    if (!request.connection && !request.reply_socket) return false;
    release();
    if (discard.load()) {  // past the close deadline: close unserved
      request = Request{};
      return true;
    }
    run(request);
    request = Request{};
    return true;
  }

  void work() {
    moodycamel::ConsumerToken token(queue);
    Request request;
    if (wake == Wake::each) {
      for (;;) {
        ready.wait();
        while (!queue.try_dequeue(token, request)) {
        }  // a wake-up is signalled only after its request is in
        if (!serve(request)) return;
      }
    }
    for (;;) {
      ready.wait();  // with a wake-up, counted in `awake` by whoever gave it
      for (;;) {
        while (queue.try_dequeue(token, request)) {
          available.fetch_sub(1);
          awake.fetch_sub(1);  // busy: a producer must not count on us...
          // ...nor a request that came while we were the one awake.
          if (available.load() > 0) wake_if_none_awake();
          if (!serve(request)) return;
          awake.fetch_add(1);
        }
        awake.fetch_sub(1);
        if (available.load() == 0) break;  // asleep: the next producer wakes someone
        awake.fetch_add(1);                // arrived while leaving: take it
      }
    }
  }

  const std::uint64_t max_queued;
  std::atomic<std::uint64_t> queued{0};
  std::function<void(Request&)> run;
  const Wake wake;
  moodycamel::ConcurrentQueue<Request> queue;
  moodycamel::LightweightSemaphore ready{0, kSemaphoreSpins};
  std::atomic<int> awake{0};
  std::atomic<std::int64_t> available{0};
  std::mutex mutex;
  std::condition_variable changed;
  std::atomic<int> waiters{0};
  std::atomic<bool> discard{false};
  std::vector<std::thread> threads;     // the constructor's and close()'s alone
  std::atomic<std::size_t> started{0};  // workers(), from any thread
};

WorkerPool::WorkerPool(const ServerOptions& options, std::function<void(Request&)> run, Wake wake) {
  if (options.max_queued == 0) throw std::invalid_argument("max_queued must be at least 1");
  state_ = std::make_unique<State>(options, std::move(run), wake);
  if (options.threads == 0) throw std::invalid_argument("a pool needs at least one thread");
  const std::size_t n = options.threads;
  state_->threads.reserve(n);
  try {
    for (std::size_t i = 0; i < n; ++i) {
      state_->threads.emplace_back([s = state_.get()] { s->work(); });
      state_->started.fetch_add(1);
    }
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
    s.wake_if_queued();  // room comes from the workers
    std::unique_lock lock(s.mutex);
    ++s.waiters;
    bool reserved = false;
    s.changed.wait(lock, [&] { return (reserved = s.try_reserve()) || stopping(); });
    --s.waiters;
    if (!reserved) return false;
  }
  try {
    s.push(std::move(request));
  } catch (...) {
    s.queued.fetch_sub(1);
    throw;
  }
  return true;
}

void WorkerPool::wake_for_queued() { state_->wake_if_queued(); }

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
  // One sentinel and one wake-up per worker: each stops at its first sentinel.
  for (std::size_t i = 0; i < s.threads.size(); ++i) {
    s.queue.enqueue(Request{});
    if (s.wake == Wake::when_asleep) {
      s.available.fetch_add(1);
      s.awake.fetch_add(1);
    }
  }
  s.ready.signal(static_cast<moodycamel::LightweightSemaphore::ssize_t>(s.threads.size()));
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
  s.started.store(0);
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

std::size_t WorkerPool::workers() const { return state_->started.load(); }
std::size_t WorkerPool::queued() const { return state_->queued.load(); }

}  // namespace switchboard::detail
