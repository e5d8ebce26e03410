#include "switchboard/threading.hpp"

namespace switchboard::detail {

void HandlerThreads::start(Request request) {
  std::lock_guard lock(mutex_);
  if (idle_ > 0) {  // promised to one idle thread, whichever wakes first
    --idle_;
    handoff_.push_back(std::move(request));
    handed_.notify_one();
    return;
  }
  auto self = threads_.emplace(threads_.end());
  // Assigned under the lock, so the thread cannot move its own node before
  // it holds the thread object.
  try {
    *self = std::thread(
        [this, self, request = std::move(request)]() mutable { serve(self, std::move(request)); });
  } catch (...) {
    threads_.erase(self);
    throw;
  }
}

void HandlerThreads::serve(std::list<std::thread>::iterator self, Request request) {
  for (;;) {
    run_(request);
    request = Request{};
    std::unique_lock lock(mutex_);
    ++idle_;
    changed_.notify_all();
    // A promise (start() took one from idle_) always comes with a request in
    // handoff_, under this lock: so with handoff_ empty, none was made to us.
    handed_.wait_for(lock, kKeepIdle, [this] { return !handoff_.empty() || closing_; });
    if (handoff_.empty()) {
      --idle_;
      finished_.splice(finished_.end(), threads_, self);
      changed_.notify_all();
      return;
    }
    request = std::move(handoff_.front());
    handoff_.pop_front();
  }
}

void HandlerThreads::prune() {
  std::list<std::thread> done;
  {
    std::lock_guard lock(mutex_);
    done.swap(finished_);
  }
  for (auto& t : done) t.join();  // each has left serve(): joins at once
}

std::size_t HandlerThreads::running() const {
  std::lock_guard lock(mutex_);
  return threads_.size() - idle_;
}

std::size_t HandlerThreads::tracked() const {
  std::lock_guard lock(mutex_);
  return threads_.size() + finished_.size();
}

bool HandlerThreads::wait_below(std::size_t limit, const std::function<bool()>& stopping) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return threads_.size() - idle_ < limit || stopping(); });
  return threads_.size() - idle_ < limit;
}

void HandlerThreads::interrupt() {
  std::lock_guard lock(mutex_);
  changed_.notify_all();
}

void HandlerThreads::close(std::chrono::steady_clock::time_point deadline,
                           const std::function<void()>& force) {
  {
    std::unique_lock lock(mutex_);
    closing_ = true;  // idle threads leave now
    handed_.notify_all();
    if (!changed_.wait_until(lock, deadline, [&] { return threads_.size() == idle_; })) {
      lock.unlock();
      force();
    }
  }
  join_all();
}

void HandlerThreads::join_all() {
  std::unique_lock lock(mutex_);
  closing_ = true;
  handed_.notify_all();
  while (!threads_.empty() || !finished_.empty()) {
    changed_.wait(lock, [&] { return !finished_.empty(); });
    std::list<std::thread> done;
    done.swap(finished_);
    lock.unlock();
    for (auto& t : done) t.join();
    lock.lock();
  }
}

}  // namespace switchboard::detail
