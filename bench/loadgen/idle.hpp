#pragma once
// Idle connections for the C10K case: opened before the load starts, they
// send nothing and are watched until the end. A server that holds a thread
// per connection shows here what that costs; one that drops them shows it too.

#include <cstdint>
#include <vector>

namespace loadgen {

struct Target;

struct IdleResult {
  std::uint64_t opened = 0;       // connect() started
  std::uint64_t established = 0;  // connected before the load began
  std::uint64_t refused = 0;      // refused, reset or timed out while connecting
  std::uint64_t closed = 0;       // ended by the server while the load ran
  double connect_seconds = 0;     // how long opening them all took
};

class IdleConnections {
 public:
  explicit IdleConnections(const Target& target) : target_(target) {}
  ~IdleConnections();
  IdleConnections(const IdleConnections&) = delete;
  IdleConnections& operator=(const IdleConnections&) = delete;

  /// Opens `count` connections, a few hundred in flight at a time, and waits
  /// until each is connected or failed, at most `timeout_s`.
  void open(int count, double timeout_s);
  /// Watches them until `until_ns` (steady clock): counts those the server ends.
  void watch(std::uint64_t until_ns);
  const IdleResult& result() const { return result_; }

 private:
  const Target& target_;
  int ep_ = -1;
  std::vector<int> fds_;  // -1 once ended
  IdleResult result_;
};

}  // namespace loadgen
