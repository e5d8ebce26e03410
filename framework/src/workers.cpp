#include "switchboard/detail/workers.hpp"

#include <concurrentqueue/concurrentqueue.h>
#include <concurrentqueue/lightweightsemaphore.h>

#include <atomic>
#include <condition_variable>
#include <list>
#include <mutex>
#include <thread>

namespace switchboard::detail {

// Idle threads spin only briefly before sleeping: with 16 of them on 2 cores
// a long spin takes the CPU from the thread that would feed them
// (bench/micro BM_PoolQueue/16: 293k items/s at moodycamel's 10000 spins, 364k at 100).
constexpr int kSemaphoreSpins = 100;

// The counts, each sequentially consistent:
//   available  tasks queued and not yet taken
//   awake      idle threads not asleep: each looks at the queue before it sleeps
//   asleep     sleeping threads no waker has claimed yet
// A thread going to sleep counts itself asleep, then leaves `awake`, then
// looks at `available`; a producer adds to `available`, then looks at
// `awake` and, if none is, claims a sleeper (or starts a thread). One of the
// two always sees the other: no task is stranded. A claimed sleeper is
// counted awake by its waker, which then signals the semaphore; sleepers are
// anonymous, so whichever sleeper takes the signal is the one claimed, and
// one that times out unclaimed claims itself (or, if every sleeper was
// claimed, waits for the signal that is coming).
struct Workers::State {
  struct Task {
    Request request;
    Job* job = nullptr;
  };

  State(Config c, std::function<void(Request&, bool)> s) : config(c), serve(std::move(s)) {}

  bool claim_sleeper() {
    for (int n = asleep.load(); n > 0;)
      if (asleep.compare_exchange_weak(n, n - 1)) return true;
    return false;
  }

  // A thread for the tasks no idle thread will take: a sleeper, or a new one.
  void wake_or_grow() {
    if (claim_sleeper()) {
      awake.fetch_add(1);
      ready.signal();
      return;
    }
    try {
      grow();
    } catch (...) {  // at its limits: a busy thread takes the task when it is done
    }
  }

  // Starts a thread below the cap; throws if the system has none to give.
  void grow() {
    std::lock_guard lock(mutex);
    if (closing || (config.max_threads != 0 && count.load() >= config.max_threads)) return;
    auto self = threads.emplace(threads.end());
    awake.fetch_add(1);  // born idle and awake
    count.fetch_add(1);
    try {
      *self = std::thread([this, self] { work(self); });
    } catch (...) {
      threads.erase(self);
      awake.fetch_sub(1);
      count.fetch_sub(1);
      throw;
    }
  }

  void push(Task task) {
    if (!queue.enqueue(std::move(task))) throw std::bad_alloc();
    available.fetch_add(1);
    if (config.wake == Wake::each && awake.load() < available.load()) wake_or_grow();
  }

  void run(Task& task) {
    if (task.job) return task.job->run();
    serve(task.request, !discard.load());
  }

  void work(std::list<std::thread>::iterator self) {
    moodycamel::ConsumerToken token(queue);
    Task task;
    for (;;) {
      while (queue.try_dequeue(token, task)) {
        available.fetch_sub(1);
        busy.fetch_add(1);
        awake.fetch_sub(1);
        // Tasks left behind with nobody awake to take them: the batch wake's chain.
        if (available.load() > 0 && awake.load() == 0) wake_or_grow();
        run(task);
        task = Task{};
        awake.fetch_add(1);
        busy.fetch_sub(1);
        if (close_waiters.load() > 0) {
          std::lock_guard lock(mutex);
          changed.notify_all();
        }
      }
      asleep.fetch_add(1);
      awake.fetch_sub(1);
      bool idle_too_long = false;
      if (available.load() == 0 && !closing.load()) {
        const bool woken = config.keep_idle == std::chrono::milliseconds::max()
                               ? ready.wait()
                               : ready.wait(std::chrono::microseconds(config.keep_idle).count());
        if (woken) continue;  // counted awake by its waker
        idle_too_long = true;
      }
      if (!claim_sleeper()) {  // a waker claimed a sleeper: its signal is ours to take
        ready.wait();
        continue;
      }
      // Awake again: a task came as it went to sleep, or it has been idle for
      // keep_idle, or the engine closes; in the last two it leaves unless a task is there.
      if ((idle_too_long || closing.load()) && leave_unless_work(self)) return;
      awake.fetch_add(1);
    }
  }

  // Under the lock, as grow() counts: a producer that finds no room to start
  // a thread then finds this one still here, looking at `available`.
  bool leave_unless_work(std::list<std::thread>::iterator self) {
    std::lock_guard lock(mutex);
    if (available.load() > 0) return false;
    count.fetch_sub(1);
    finished.splice(finished.end(), threads, self);
    any_finished.store(true, std::memory_order_relaxed);
    changed.notify_all();
    return true;
  }

  const Config config;
  const std::function<void(Request&, bool)> serve;
  moodycamel::ConcurrentQueue<Task> queue;
  moodycamel::LightweightSemaphore ready{0, kSemaphoreSpins};
  std::atomic<std::int64_t> available{0};
  std::atomic<int> awake{0};
  std::atomic<int> asleep{0};
  std::atomic<std::size_t> busy{0};
  std::atomic<std::size_t> count{0};  // threads started and not retired
  std::atomic<bool> discard{false};   // past the close deadline: queued requests close unserved
  std::atomic<int> close_waiters{0};
  std::mutex mutex;  // the thread lists, `closing`; close()'s waits
  std::condition_variable changed;
  std::atomic<bool> closing{false};
  bool closed = false;
  std::list<std::thread> threads;   // running or idle
  std::list<std::thread> finished;  // retired, to be joined
  std::atomic<bool> any_finished{false};
};

Workers::Workers(Config config, std::function<void(Request&, bool)> serve)
    : state_(std::make_unique<State>(config, std::move(serve))) {
  try {
    for (std::size_t i = 0; i < config.start_threads; ++i) state_->grow();
  } catch (...) {
    if (state_->count.load() == 0) {
      close(std::chrono::steady_clock::now(), [] {});
      throw;
    }
    // fewer threads than asked for is still a pool
  }
}

Workers::~Workers() {
  close(std::chrono::steady_clock::now(), [] {});
}

// The first thread (threading's, the reactor's) starts before anything is
// taken, so that a failure leaves the caller what it had.
void Workers::submit(Request& request) {
  if (state_->count.load() == 0) state_->grow();
  state_->push({std::move(request), nullptr});
}

void Workers::submit(Job& job) {
  if (state_->count.load() == 0) state_->grow();
  state_->push({Request{}, &job});
}

void Workers::end_of_batch() {
  State& s = *state_;
  if (s.available.load() > 0 && s.awake.load() == 0) s.wake_or_grow();
}

void Workers::close(std::chrono::steady_clock::time_point deadline,
                    const std::function<void()>& force) {
  State& s = *state_;
  {
    std::unique_lock lock(s.mutex);
    if (s.closed) return;
    s.closed = true;
    s.close_waiters.fetch_add(1);
    const auto idle = [&] { return s.available.load() == 0 && s.busy.load() == 0; };
    if (!s.changed.wait_until(lock, deadline, idle)) {
      s.discard = true;
      lock.unlock();
      force();
      lock.lock();
      s.changed.wait(lock, idle);
    }
    s.close_waiters.fetch_sub(1);
    s.closing = true;
  }
  while (s.claim_sleeper()) {  // sleepers wake and leave; awake ones leave at their next look
    s.awake.fetch_add(1);
    s.ready.signal();
  }
  std::unique_lock lock(s.mutex);
  s.changed.wait(lock, [&] { return s.threads.empty(); });
  std::list<std::thread> done;
  done.swap(s.finished);
  lock.unlock();
  for (auto& t : done) t.join();
}

void Workers::prune() {
  State& s = *state_;
  if (!s.any_finished.load(std::memory_order_relaxed)) return;  // the common case: no lock
  std::list<std::thread> done;
  {
    std::lock_guard lock(s.mutex);
    done.swap(s.finished);
    s.any_finished.store(false, std::memory_order_relaxed);
  }
  for (auto& t : done) t.join();  // each has left work(): joins at once
}

std::size_t Workers::threads() const { return state_->count.load(); }
std::size_t Workers::busy() const { return state_->busy.load(); }
std::size_t Workers::queued() const {
  const auto n = state_->available.load();
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}
std::size_t Workers::tracked() const {
  std::lock_guard lock(state_->mutex);
  return state_->threads.size() + state_->finished.size();
}

}  // namespace switchboard::detail
