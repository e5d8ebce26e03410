#pragma once
// What a sample says and does about its drain (docs/design.md, "The drain"): on the
// first signal, how many connections it drains and for how long; once the
// close deadline cut connections, how many; and if the server is still not
// closed a grace period after that deadline (a handler that ignores it: a
// sleep, a call blocked on something other than its connection), the
// process ends anyway with status 0. The library keeps its rule that no
// thread outlives the server; ending the process is the executable's call.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "switchboard/server.hpp"

namespace switchboard::samples {

class DrainWatch {
 public:
  /// How long past the close deadline the watchdog waits for server_close():
  /// longer than a policy takes to cut and join what honours the deadline
  /// (the reactor gives its loops a second after the cut).
  static constexpr Seconds kGrace{2};

  /// Watches `server`, whose drain lasts `drain_timeout`. Make it before the
  /// server's threads would take SIGINT/SIGTERM: its thread inherits the mask.
  DrainWatch(const BaseServer& server, Seconds drain_timeout);
  /// Stops the watchdog.
  ~DrainWatch();
  DrainWatch(const DrainWatch&) = delete;
  DrainWatch& operator=(const DrainWatch&) = delete;

  /// The drain begins (StopOnSignals::OnDrain): says so on stderr, once, and
  /// starts the watchdog's clock. Thread safe.
  void began();
  /// server_close() returned: says how many connections the deadline cut, if
  /// any, and stands the watchdog down. Thread safe.
  void closed();

 private:
  void watch();
  [[noreturn]] void give_up();  // past the deadline and its grace: report, exit 0
  void report_cut(std::uint64_t cut);

  const BaseServer& server_;
  const Seconds drain_timeout_;
  std::string unix_path_;  // the server's socket file, removed by give_up() if still its own
  dev_t unix_dev_ = 0;
  ino_t unix_ino_ = 0;

  std::mutex mutex_;
  std::condition_variable changed_;
  bool began_ = false;
  bool closed_ = false;
  bool stop_ = false;
  bool reported_ = false;  // the cut line is said once
  std::chrono::steady_clock::time_point began_at_;
  std::thread thread_;
};

}  // namespace switchboard::samples
