#pragma once
// Internal: timeouts without a timer per operation. Whatever waits on a loop
// (a read, a write, a parked connection) stamps itself with the loop's coarse
// tick; a periodic sweep over the loop's connections ends those that waited
// too long. A tick is a fraction of the shortest timeout, so a timeout fires
// between its length and a quarter more, never early.

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>

#include "switchboard/options.hpp"

namespace switchboard::detail {

class Sweeper {
 public:
  /// What the sweep looks at: a node of the sweeper's intrusive list.
  class Entry {
   public:
    virtual ~Entry() = default;
    /// The sweep's visit: end the waits that lasted too long. Loop thread.
    virtual void on_sweep() {}
    /// The server drains: end a wait for a next request. Loop thread.
    virtual void on_drain() {}

   private:
    friend class Sweeper;
    Entry* prev_ = nullptr;
    Entry* next_ = nullptr;
  };

  /// Ticks at an eighth of the shortest of `options`' timeouts (idle, write,
  /// first request; 5 ms to 1 s), or not at all when there are none.
  Sweeper(asio::io_context& io, const ServerOptions& options);
  ~Sweeper();
  Sweeper(const Sweeper&) = delete;
  Sweeper& operator=(const Sweeper&) = delete;

  /// The current tick. Loop thread.
  std::uint64_t now() const { return tick_; }
  /// When the current tick began (the clock is read once per tick). Loop thread.
  std::chrono::steady_clock::time_point time() const { return time_; }
  /// Whether what was stamped at `since` has waited at least `limit` (> 0).
  bool expired(std::uint64_t since, Seconds limit) const;
  /// Loop thread.
  void add(Entry& entry);
  void remove(Entry& entry);
  /// Stops ticking (lets a private io_context's run() return). Loop thread.
  void stop();
  /// Visits every entry's on_drain(). Loop thread.
  void drain();

 private:
  void arm();
  void visit(void (Entry::*what)());

  asio::steady_timer timer_;
  std::chrono::nanoseconds interval_{0};
  std::uint64_t tick_ = 0;
  std::chrono::steady_clock::time_point time_ = std::chrono::steady_clock::now();
  bool stopped_ = false;
  Entry head_;
};

}  // namespace switchboard::detail
