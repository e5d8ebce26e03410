#pragma once
// Internal: the live counters behind ServerStats, and the set of connections
// being served (so that a close deadline can shut them all down).

#include <atomic>
#include <cstdint>
#include <mutex>

#include "switchboard/request.hpp"
#include "switchboard/stats.hpp"

namespace switchboard::detail {

struct Counters {
  using Counter = std::atomic<std::uint64_t>;
  Counter total_requests{0}, active_requests{0}, max_active{0}, queued{0}, refused{0}, rejected{0},
      handler_errors{0}, peer_resets{0}, accept_errors{0}, dropped_datagrams{0};

  static void bump(Counter& c) { c.fetch_add(1, std::memory_order_relaxed); }
  ServerStats snapshot() const;
};

/// A connection being served: a node of ActiveSet's intrusive list, living on
/// the stack of the thread that serves it.
struct ActiveConnection {
  int fd = -1;
  std::atomic<bool> idle{false};     // its reader waits at a request boundary, nothing buffered
  std::atomic<bool> cut{false};      // the drain shut its reading side down
  bool parkable = false;             // a restartable handler under the reactor: unwind when idle
  std::atomic<bool> expired{false};  // the reactor's sweep timed it out while it was parked
  const std::atomic<bool>* draining = nullptr;  // the server's: idle now means finished
  ActiveConnection* prev = nullptr;
  ActiveConnection* next = nullptr;
};

class ActiveSet {
 public:
  void add(ActiveConnection& node);
  /// Unlinks the node; after it returns shutdown_all() no longer touches node.fd.
  void remove(ActiveConnection& node);
  /// shutdown(SHUT_RDWR) on every connection served now: their blocked
  /// reads and writes fail at once.
  void shutdown_all();
  /// shutdown(SHUT_RD) on the idle ones: their readers see end of input now.
  void shutdown_idle();

 private:
  std::mutex mutex_;
  ActiveConnection head_;
};

}  // namespace switchboard::detail
