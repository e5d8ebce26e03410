#pragma once
// Internal: the live counters behind ServerStats.

#include <atomic>
#include <cstdint>

namespace switchboard::detail {

struct Counters {
  using Counter = std::atomic<std::uint64_t>;
  Counter total_requests{0}, active_requests{0}, max_active{0}, queued{0}, refused{0}, rejected{0},
      handler_errors{0}, peer_resets{0}, timed_out{0}, cut{0}, accept_errors{0},
      dropped_datagrams{0};

  static void bump(Counter& c) { c.fetch_add(1, std::memory_order_relaxed); }
};
static_assert(Counters::Counter::is_always_lock_free, "counters shared across fork() need it");

}  // namespace switchboard::detail
