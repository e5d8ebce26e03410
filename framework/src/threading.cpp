#include "switchboard/threading.hpp"

namespace switchboard::detail {

// Every request in handoff_ is promised to an idle thread (start() took one
// from idle_), and some idle thread always looks at handoff_ before sleeping:
// `awake_` counts the idle threads not asleep, each of which will; when none
// is, whoever leaves requests behind wakes a sleeper. So no request is
// stranded, and a thread busy with a slow request is not awake, so the next
// request wakes another: nothing waits behind a slow one.
void HandlerThreads::start(Request request) {
  std::lock_guard lock(mutex_);
  if (idle_ > 0) {
    --idle_;
    handoff_.push_back(std::move(request));
    // A connection holds its thread for its life: one awake thread for each.
    if (wake_ == Wake::each && awake_ < handoff_.size()) wake_one();
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

void HandlerThreads::announce() {
  std::lock_guard lock(mutex_);
  if (!handoff_.empty() && awake_ == 0) wake_one();
}

// Under mutex_. The most recent sleeper, whose stack is likeliest still cached.
void HandlerThreads::wake_one() {
  Sleeper* s = sleepers_.prev;
  if (s == &sleepers_) return;  // none asleep: every idle thread is awake and will look
  unlink(*s);
  s->woken = true;
  ++awake_;
  s->wake.notify_one();  // under the lock: once it sees `woken` it may return and be gone
}

void HandlerThreads::link(Sleeper& s) {
  s.prev = sleepers_.prev;
  s.next = &sleepers_;
  sleepers_.prev->next = &s;
  sleepers_.prev = &s;
}

void HandlerThreads::unlink(Sleeper& s) {
  s.prev->next = s.next;
  s.next->prev = s.prev;
}

void HandlerThreads::serve(std::list<std::thread>::iterator self, Request request) {
  for (;;) {
    run_(request);
    request = Request{};
    std::unique_lock lock(mutex_);
    ++idle_;
    ++awake_;
    changed_.notify_all();
    const auto give_up = std::chrono::steady_clock::now() + keep_idle_;
    while (handoff_.empty() && !closing_) {
      Sleeper me;
      link(me);
      --awake_;
      me.wake.wait_until(lock, give_up, [&] { return me.woken || closing_; });
      if (!me.woken) {  // timed out (closing wakes every sleeper): still listed
        unlink(me);
        ++awake_;
        break;  // idle for keep_idle_: leave, unless a request came meanwhile
      }
    }
    if (handoff_.empty()) {
      --idle_;
      --awake_;
      finished_.splice(finished_.end(), threads_, self);
      any_finished_.store(true, std::memory_order_relaxed);
      changed_.notify_all();
      return;
    }
    request = std::move(handoff_.front());
    handoff_.pop_front();
    --awake_;  // busy now
    if (!handoff_.empty() && awake_ == 0) wake_one();
  }
}

void HandlerThreads::prune() {
  if (!any_finished_.load(std::memory_order_relaxed)) return;  // the common case: no lock
  std::list<std::thread> done;
  {
    std::lock_guard lock(mutex_);
    done.swap(finished_);
    any_finished_.store(false, std::memory_order_relaxed);
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
    begin_closing();  // idle threads leave now
    if (!changed_.wait_until(lock, deadline, [&] { return threads_.size() == idle_; })) {
      lock.unlock();
      force();
    }
  }
  join_all();
}

// Under mutex_.
void HandlerThreads::begin_closing() {
  closing_ = true;
  while (sleepers_.prev != &sleepers_) wake_one();
}

void HandlerThreads::join_all() {
  std::unique_lock lock(mutex_);
  begin_closing();
  while (!threads_.empty() || !finished_.empty()) {
    changed_.wait(lock, [&] { return !finished_.empty(); });
    std::list<std::thread> done;
    done.swap(finished_);
    any_finished_.store(false, std::memory_order_relaxed);
    lock.unlock();
    for (auto& t : done) t.join();
    lock.lock();
  }
}

}  // namespace switchboard::detail
