#pragma once
// Internal: one admission limit, used at every cap: open connections
// (max_connections), requests for workers (threads + max_queued), threading's
// threads (max_threads), forking's children (max_children). Overload decides
// what a full limit does: `block` waits for a place, `refuse` fails at once
// (the caller counts and closes). Thread safe.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>

#include "switchboard/options.hpp"

namespace switchboard::detail {

class Limit {
 public:
  /// `cap` places; 0: no cap.
  explicit Limit(std::size_t cap = 0) : cap_(cap) {}
  Limit(const Limit&) = delete;
  Limit& operator=(const Limit&) = delete;

  /// Takes a place if one is free.
  bool try_acquire() noexcept;
  /// Takes a place; when none is free, `block` waits for one (false if
  /// `stopping()` became true first), `refuse` fails at once.
  bool acquire(Overload overload, const std::function<bool()>& stopping);
  /// Waits until a place is free, taking none: an acceptor that must not
  /// hold a connection it has no room for. False if `stopping()` became true.
  bool wait_for_room(const std::function<bool()>& stopping);
  /// Gives a place back.
  void release() noexcept;
  /// Wakes the waiters to look at their `stopping` again.
  void interrupt();

  /// A waiter that cannot block (an event loop) counts itself (+1, then -1
  /// when done), then looks again: while any is counted, each release()
  /// calls `on_room`, set once before use. Sequentially consistent with
  /// release(), so no release is missed.
  void want_room(int delta) { room_wanted_.fetch_add(delta); }
  void on_room(std::function<void()> notify) { on_room_ = std::move(notify); }

  std::size_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  std::size_t peak() const { return peak_.load(std::memory_order_relaxed); }
  std::size_t cap() const { return cap_; }

 private:
  const std::size_t cap_;
  std::atomic<std::size_t> in_use_{0};
  std::atomic<std::size_t> peak_{0};
  std::atomic<int> waiters_{0};  // blocked in acquire() or wait_for_room()
  std::atomic<int> room_wanted_{0};
  std::function<void()> on_room_;
  std::mutex mutex_;
  std::condition_variable changed_;
};

}  // namespace switchboard::detail
