#include "switchboard/detail/limit.hpp"

namespace switchboard::detail {

bool Limit::try_acquire() noexcept {
  std::size_t n = in_use_.load();
  do {
    if (cap_ != 0 && n >= cap_) return false;
  } while (!in_use_.compare_exchange_weak(n, n + 1));
  for (std::size_t seen = peak_.load(std::memory_order_relaxed);
       n + 1 > seen && !peak_.compare_exchange_weak(seen, n + 1, std::memory_order_relaxed);) {
  }
  return true;
}

bool Limit::acquire(Overload overload, const std::function<bool()>& stopping) {
  if (try_acquire()) return true;
  if (overload == Overload::refuse) return false;
  std::unique_lock lock(mutex_);
  ++waiters_;
  bool taken = false;
  changed_.wait(lock, [&] { return (taken = try_acquire()) || stopping(); });
  --waiters_;
  return taken;
}

bool Limit::wait_for_room(const std::function<bool()>& stopping) {
  const auto room = [this] { return cap_ == 0 || in_use_.load() < cap_; };
  if (room()) return true;
  std::unique_lock lock(mutex_);
  ++waiters_;
  changed_.wait(lock, [&] { return room() || stopping(); });
  --waiters_;
  return room();
}

void Limit::release() noexcept {
  in_use_.fetch_sub(1);
  if (waiters_.load() > 0) {
    std::lock_guard lock(
        mutex_);  // a waiter between its look and its wait would miss a bare notify
    changed_.notify_all();
  }
  if (room_wanted_.load() > 0 && on_room_) {
    try {
      on_room_();
    } catch (...) {  // a lost wake-up only delays a waiter until its next look
    }
  }
}

void Limit::interrupt() {
  std::lock_guard lock(mutex_);
  changed_.notify_all();
}

}  // namespace switchboard::detail
