#include "switchboard/threading.hpp"

namespace switchboard::detail {

void HandlerThreads::start(Request request) {
  std::lock_guard lock(mutex_);
  auto self = running_.emplace(running_.end());
  // Assigned under the lock, so the thread cannot move its own node before
  // it holds the thread object.
  try {
    *self = std::thread([this, self, request = std::move(request)]() mutable {
      run_(request);
      std::lock_guard done(mutex_);
      finished_.splice(finished_.end(), running_, self);
      changed_.notify_all();
    });
  } catch (...) {
    running_.erase(self);
    throw;
  }
}

void HandlerThreads::prune() {
  std::list<std::thread> done;
  {
    std::lock_guard lock(mutex_);
    done.swap(finished_);
  }
  for (auto& t : done) t.join();  // each has left run_(): joins at once
}

std::size_t HandlerThreads::running() const {
  std::lock_guard lock(mutex_);
  return running_.size();
}

std::size_t HandlerThreads::tracked() const {
  std::lock_guard lock(mutex_);
  return running_.size() + finished_.size();
}

bool HandlerThreads::wait_below(std::size_t limit, const std::function<bool()>& stopping) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return running_.size() < limit || stopping(); });
  return running_.size() < limit;
}

void HandlerThreads::interrupt() {
  std::lock_guard lock(mutex_);
  changed_.notify_all();
}

void HandlerThreads::close(std::chrono::steady_clock::time_point deadline,
                           const std::function<void()>& force) {
  {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_until(lock, deadline, [&] { return running_.empty(); })) {
      lock.unlock();
      force();
    }
  }
  join_all();
}

void HandlerThreads::join_all() {
  std::unique_lock lock(mutex_);
  while (!running_.empty() || !finished_.empty()) {
    changed_.wait(lock, [&] { return !finished_.empty(); });
    std::list<std::thread> done;
    done.swap(finished_);
    lock.unlock();
    for (auto& t : done) t.join();
    lock.lock();
  }
}

}  // namespace switchboard::detail
