#pragma once
// A pool full of long-lived connections serves `threads` of them and leaves
// the rest waiting, silently: each connection holds its worker for its whole
// life. QueueWatch notices from the counters alone that connections have
// waited over a threshold for a worker and words the warning, once per
// episode (until the queue is seen empty again), and the line that ends it.
//
// The library counts what waits (`queued`), not for how long, so the wait is
// inferred. The serving thread alone feeds the pool's queue, in order, so the
// queue is first in, first out: of the connections queued at a time T, those
// still queued now are those beyond the first S, where S is the number of
// connections workers took since T. A worker taking a connection shows in the
// counters as one leaving `queued` that `total_requests` did not bring:
// started = total_requests - queued - rejected - (refused by a limit). Short
// requests keep the queue moving, so a busy pool does not trip it.

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>

#include "switchboard/options.hpp"
#include "switchboard/stats.hpp"

namespace switchboard::cli {

class QueueWatch {
 public:
  using Clock = std::chrono::steady_clock;

  /// Warns about connections waiting over `threshold` (> 0) in a queue of at
  /// most `max_queued`, which `overload` deals with when full.
  QueueWatch(Seconds threshold, std::size_t max_queued, Overload overload);

  /// How often to observe(): a tenth of the threshold, from 10 ms to 1 s.
  Seconds interval() const;

  /// Takes the counters at `now`; returns a line to print on stderr (with its
  /// '\n'): the warning, once per episode, or, once the queue is empty again
  /// after one, the line that says so.
  std::optional<std::string> observe(Clock::time_point now, const ServerStats& stats);

 private:
  struct Sample {
    Clock::time_point at;
    std::uint64_t queued;
    std::uint64_t started;
  };

  Seconds threshold_;
  std::size_t max_queued_;
  Overload overload_;
  std::deque<Sample> samples_;  // oldest first; the first is the newest at least threshold old
  bool warned_ = false;
};

}  // namespace switchboard::cli
