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

// Who is to take the queued tasks, counted in one word so that each change
// and the decision it leads to see the same moment:
//   available  tasks queued and not yet taken (high half, signed: a task can
//              be taken before its producer counts it)
//   awake      idle threads not asleep (low half): each looks at the queue
//              before it sleeps
// and beside it `asleep`, the sleeping threads no waker has claimed yet.
// A thread going to sleep counts itself asleep, then leaves `awake`, and
// stays if that change saw a task; a producer counts its task and, if that
// change saw fewer awake than available (Wake::each), claims a sleeper (or
// starts a thread). One of the two always sees the other: no task is
// stranded. A thread taking a task leaves `available` and `awake` in one
// change, so a producer never counts on a thread that is already busy, nor
// wakes one for a task already taken: a task wakes at most one thread.
//
// A claimed sleeper is counted awake by its waker before it stops counting
// asleep (a producer looking in between would start a thread for nothing);
// then the waker signals the semaphore. Sleepers are anonymous: whichever
// takes the signal is the one claimed, and one that wakes unclaimed claims
// itself (or, if every sleeper was claimed, waits for the signal that is coming).
//
// Wake::at_batch wakes a thread only when none is awake; the one that wakes
// it counts it awake from none by compare-and-swap, so that the end of a
// batch and a thread leaving tasks behind never both wake one for them.
struct Workers::State {
  struct Task {
    Request request;
    Job* job = nullptr;
  };

  static constexpr std::int64_t kTask = std::int64_t{1} << 32;  // one `available`
  static constexpr std::int64_t kThread = 1;                    // one `awake`
  static std::int64_t available_in(std::int64_t counts) { return counts >> 32; }
  static std::int64_t awake_in(std::int64_t counts) { return counts & 0xffffffff; }

  State(Config c, std::function<void(Request&, bool)> s) : config(c), serve(std::move(s)) {}

  bool claim_sleeper() {
    for (int n = asleep.load(); n > 0;)
      if (asleep.compare_exchange_weak(n, n - 1)) return true;
    return false;
  }

  // Counts a sleeper awake and claims it; false (and uncounted) if none is left.
  bool claim_awake() {
    counts.fetch_add(kThread);
    if (claim_sleeper()) return true;
    counts.fetch_sub(kThread);
    return false;
  }

  // A thread for a task no idle thread will take: a sleeper, or a new one.
  void wake_or_grow() {
    if (claim_awake()) return ready.signal();
    try {
      grow();
    } catch (...) {  // at its limits: a busy thread takes the task when it is done
    }
  }

  // Wake::at_batch: wakes a thread if tasks wait and none is awake.
  void wake_if_none_awake(std::int64_t seen) {
    while (available_in(seen) > 0 && awake_in(seen) == 0) {
      if (asleep.load() == 0 && full()) return;  // all busy: the first done takes them
      if (!counts.compare_exchange_weak(seen, seen + kThread)) continue;
      if (claim_sleeper()) return ready.signal();
      bool started = false;
      try {
        started = grow(/*counted=*/true);
      } catch (...) {
      }
      if (!started) counts.fetch_sub(kThread);  // a busy thread takes them when it is done
      return;
    }
  }

  // Starts a thread below the cap, born idle and awake (already counted
  // awake by the caller if `counted`); false at the cap or when closing.
  // Throws if the system has no thread to give.
  bool grow(bool counted = false) {
    if (full()) return false;  // the common case at the cap: no lock
    std::lock_guard lock(mutex);
    if (closing || (config.max_threads != 0 && count.load() >= config.max_threads)) return false;
    auto self = threads.emplace(threads.end());
    if (!counted) counts.fetch_add(kThread);
    count.fetch_add(1);
    try {
      *self = std::thread([this, self] { work(self); });
    } catch (...) {
      threads.erase(self);
      if (!counted) counts.fetch_sub(kThread);
      count.fetch_sub(1);
      throw;
    }
    return true;
  }

  // At the cap with threads that never retire, none can start: a count
  // that only grows (under the lock) says so without the lock.
  bool full() const {
    return config.max_threads != 0 && config.keep_idle == std::chrono::milliseconds::max() &&
           count.load() >= config.max_threads;
  }

  void push(Task task) {
    if (!queue.enqueue(std::move(task))) throw std::bad_alloc();
    const auto now = counts.fetch_add(kTask) + kTask;
    if (config.wake == Wake::each && awake_in(now) < available_in(now)) wake_or_grow();
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
        busy.fetch_add(1);
        const auto now = counts.fetch_sub(kTask + kThread) - (kTask + kThread);
        // Tasks left behind with nobody awake to take them: the batch wake's chain.
        if (config.wake == Wake::at_batch) wake_if_none_awake(now);
        run(task);
        task = Task{};
        counts.fetch_add(kThread);
        busy.fetch_sub(1);
        if (close_waiters.load() > 0) {
          std::lock_guard lock(mutex);
          changed.notify_all();
        }
      }
      asleep.fetch_add(1);
      const auto now = counts.fetch_sub(kThread) - kThread;
      bool idle_too_long = false;
      if (available_in(now) <= 0 && !closing.load()) {
        const bool woken = config.keep_idle == std::chrono::milliseconds::max()
                               ? ready.wait()
                               : ready.wait(std::chrono::microseconds(config.keep_idle).count());
        if (woken) continue;  // counted awake by its waker
        idle_too_long = true;
      }
      if (!idle_too_long && !closing.load()) {  // a task came as it went to sleep
        if (!claim_awake()) ready.wait();       // a waker claimed a sleeper: its signal is ours
        continue;
      }
      // Idle for keep_idle, or the engine closes: it leaves unless a task is
      // there, uncounted meanwhile, so that no producer counts on a thread that leaves.
      if (!claim_sleeper()) {
        ready.wait();
        continue;
      }
      if (leave_unless_work(self)) return;
      counts.fetch_add(kThread);
    }
  }

  // Under the lock, as grow() counts: a producer that finds no room to start
  // a thread then finds this one still here, looking at `available`.
  bool leave_unless_work(std::list<std::thread>::iterator self) {
    std::lock_guard lock(mutex);
    if (available() > 0) return false;
    count.fetch_sub(1);
    finished.splice(finished.end(), threads, self);
    any_finished.store(true, std::memory_order_relaxed);
    changed.notify_all();
    return true;
  }

  std::int64_t available() const { return available_in(counts.load()); }

  const Config config;
  const std::function<void(Request&, bool)> serve;
  moodycamel::ConcurrentQueue<Task> queue;
  moodycamel::LightweightSemaphore ready{0, kSemaphoreSpins};
  std::atomic<std::int64_t> counts{0};  // available and awake, as above
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
  s.wake_if_none_awake(s.counts.load());
}

void Workers::close(std::chrono::steady_clock::time_point deadline,
                    const std::function<void()>& force) {
  State& s = *state_;
  {
    std::unique_lock lock(s.mutex);
    if (s.closed) return;
    s.closed = true;
    s.close_waiters.fetch_add(1);
    const auto idle = [&] { return s.available() <= 0 && s.busy.load() == 0; };
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
  while (s.claim_awake())
    s.ready.signal();  // sleepers wake and leave; awake ones at their next look
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
  const auto n = state_->available();
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}
std::size_t Workers::tracked() const {
  std::lock_guard lock(state_->mutex);
  return state_->threads.size() + state_->finished.size();
}

}  // namespace switchboard::detail
