#include "workers.hpp"

#include <concurrentqueue/blockingconcurrentqueue.h>

#include <stdexcept>

namespace switchboard::detail {

namespace {

// As for the pool: idle workers spin only briefly before sleeping, so that on
// a small machine they do not take the CPU from the loops that feed them.
struct Traits : moodycamel::ConcurrentQueueDefaultTraits {
  static const int MAX_SEMA_SPINS = 100;
};

}  // namespace

// A null job stops one worker.
struct Workers::Queue {
  moodycamel::BlockingConcurrentQueue<Job*, Traits> jobs;
};

Workers::Workers(std::size_t threads) : queue_(std::make_unique<Queue>()), threads_(threads) {
  if (threads_ == 0) throw std::invalid_argument("the reactor needs at least one worker thread");
}

Workers::~Workers() { close(); }

void Workers::start() {
  std::lock_guard lock(mutex_);
  if (started_.load() != 0 || closed_.load()) return;
  running_.reserve(threads_);
  for (std::size_t i = 0; i < threads_; ++i) {
    try {
      running_.emplace_back([this, q = queue_.get()] {
        moodycamel::ConsumerToken token(q->jobs);
        for (Job* job = nullptr;;) {
          q->jobs.wait_dequeue(token, job);
          if (!job) return;
          waiting_.fetch_sub(1);
          if (room_wanted_.load() > 0 && on_room_) on_room_();
          job->run();
        }
      });
    } catch (...) {
      if (running_.empty()) throw;
      break;  // fewer workers than asked for is still a pool
    }
  }
  started_.store(running_.size(), std::memory_order_release);
}

void Workers::submit(Job& job) {
  if (started_.load(std::memory_order_acquire) == 0) start();
  if (closed_.load()) throw std::logic_error("the reactor's workers are closed");
  waiting_.fetch_add(1, std::memory_order_relaxed);
  if (!queue_->jobs.enqueue(&job)) {
    waiting_.fetch_sub(1, std::memory_order_relaxed);
    throw std::bad_alloc();
  }
}

void Workers::close() {
  std::lock_guard lock(mutex_);
  closed_.store(true);
  // The reactor closes its workers once no connection is left, so nothing can
  // be queued behind the sentinels.
  for (std::size_t i = 0; i < running_.size(); ++i) queue_->jobs.enqueue(nullptr);
  for (auto& t : running_) t.join();
  running_.clear();
  started_.store(0, std::memory_order_release);
}

}  // namespace switchboard::detail
