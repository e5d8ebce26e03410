#pragma once
// Timeouts in tests are failure bounds only: how long to wait for something
// that normally happens at once before calling the test failed.

#include <algorithm>
#include <chrono>

namespace switchboard::test {

using Duration = std::chrono::milliseconds;
using namespace std::chrono_literals;

/// The default failure bound: generous, since a loaded CI machine is slow.
inline constexpr Duration kTimeout = 10s;

class Deadline {
 public:
  explicit Deadline(Duration timeout) : end_(std::chrono::steady_clock::now() + timeout) {}
  bool expired() const { return std::chrono::steady_clock::now() >= end_; }
  /// Milliseconds left, for poll(); 0 once expired.
  int poll_ms() const {
    const auto left =
        std::chrono::duration_cast<Duration>(end_ - std::chrono::steady_clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left, 0, 1'000'000'000));
  }

 private:
  std::chrono::steady_clock::time_point end_;
};

}  // namespace switchboard::test
