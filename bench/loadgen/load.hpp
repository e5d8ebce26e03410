#pragma once
// The load generator's engine: connections spread over threads, each thread an
// epoll loop; every reply checked byte for byte.

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "idle.hpp"

namespace loadgen {

/// The steady clock in nanoseconds: every time the load generator keeps.
inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

enum class Mode { pingpong, connect, rate };

struct Config {
  std::string proto = "tcp";  // tcp, udp, unix, unix-dgram
  std::string host = "127.0.0.1";
  std::uint16_t port = 9999;
  std::string path;
  int conns = 16;
  std::size_t size = 64;  // request bytes, the last one '\n'
  double duration = 10;   // measured seconds
  double warmup = 1;      // seconds before measuring
  int threads = 2;
  Mode mode = Mode::pingpong;
  double rate = 0;        // open loop: requests per second, all connections together
  double timeout = 2;     // a reply later than this counts as a timeout
  bool progress = false;  // a live line on stderr once a second
  int idle_conns = 0;     // stream only: connections opened first that never send
};

/// Where the load goes, resolved once.
struct Target {
  int family = AF_INET;
  int type = SOCK_STREAM;
  sockaddr_storage addr{};
  socklen_t len = 0;
};
/// Throws std::invalid_argument for a bad protocol, path or host.
Target resolve(const Config& c);

struct Result {
  Histogram latency;             // ns, from the (intended) send to the last reply byte
  std::uint64_t requests = 0;    // answered correctly while measuring
  std::uint64_t mismatches = 0;  // a reply that differed from the request
  std::uint64_t timeouts = 0;
  std::uint64_t refused = 0;  // connect() refused
  std::uint64_t resets = 0;   // ECONNRESET / EPIPE / early EOF
  std::uint64_t other_errors = 0;
  std::uint64_t connects = 0;  // connections opened (all phases)
  std::uint64_t starved = 0;   // connection slots that got no reply while measuring
  double seconds = 0;          // measured time
  IdleResult idle;             // --idle-conns

  void merge(const Result& r);
  std::uint64_t errors() const { return mismatches + timeouts + refused + resets + other_errors; }
};

/// Runs the load described by `config`; bounded by warmup + duration (+ timeout).
Result run(const Config& config);

}  // namespace loadgen
