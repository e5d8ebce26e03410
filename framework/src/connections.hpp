#pragma once
// Internal: the open stream connections of a server, from accept to close.
// max_connections counts them, the drain ends the idle and queued ones through
// them, and the close deadline shuts down whatever is left.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>

#include "switchboard/request.hpp"

namespace switchboard::detail {

class ActiveSet;

/// One open connection: a node of ActiveSet's intrusive list, owned by its
/// Request through a ConnectionEntry (on the heap, since requests move between threads).
struct ActiveConnection {
  int fd = -1;  // -1 once the descriptor lives in a forked child
  ActiveSet* set = nullptr;
  const std::atomic<bool>* draining = nullptr;  // the server's: idle now means finished
  std::atomic<bool> started{false};             // a handler has taken it; before that it is queued
  std::atomic<bool> idle{false};  // its reader waits at a request boundary, nothing buffered
                                  // or taken; the reader and the drain race to clear it
  std::atomic<bool> cut{false};   // the drain shut it down: a partial request is no request
  int drain_fd = -1;              // in a forked child: readable once its parent drains
  // The reactor's per-request mode (a restartable handler):
  bool parkable = false;                                   // its reader unwinds (Parked) when idle
  const std::atomic<std::size_t>* waiting_jobs = nullptr;  // the workers' queue: none, linger
  long linger_ns = 0;                                      // ServerOptions::park_linger
  std::atomic<bool> expired{false};             // timed out while parked: its next read throws
  std::atomic<bool> first_request_read{false};  // its reader returned a first request
  ActiveConnection* prev = nullptr;
  ActiveConnection* next = nullptr;
};

/// Thread safe.
class ActiveSet {
 public:
  ActiveSet();

  /// Adds the connection on `fd`; it leaves the set when the entry is destroyed.
  ConnectionEntry add(int fd, const std::atomic<bool>& draining);
  /// Unlinks the node: after it returns nothing here touches node.fd.
  void remove(ActiveConnection& node) noexcept;
  /// The descriptor went to a child process: stop touching it, keep counting it.
  void forget_fd(ActiveConnection& node) noexcept;

  std::size_t size() const { return size_.load(std::memory_order_relaxed); }
  std::size_t peak() const { return peak_.load(std::memory_order_relaxed); }
  /// Waits until fewer than `limit` are open; false if `stopping()` became true.
  bool wait_below(std::size_t limit, const std::function<bool()>& stopping);
  /// Wakes wait_below() to look at `stopping` again.
  void interrupt();

  /// The drain: queued connections with nothing to read are shut down (their
  /// clients see the end at once); idle ones get SHUT_RD (their readers see
  /// end of input). Connections with bytes waiting are left to be served.
  void shutdown_idle();
  /// shutdown(SHUT_RDWR) on every connection: blocked reads and writes fail now.
  void shutdown_all();

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  int waiters_ = 0;  // wait_below() callers, so that remove() notifies only when needed
  ActiveConnection head_;
  std::atomic<std::size_t> size_{0};
  std::atomic<std::size_t> peak_{0};
};

}  // namespace switchboard::detail
