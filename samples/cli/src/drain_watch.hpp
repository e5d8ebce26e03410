#pragma once
// What a server says and does about its drain (docs/design.md, "The drain"): on the
// first signal, how many connections it drains and for how long; once the
// close deadline cut connections, how many; and if the server is still not
// closed a grace period after that deadline (a handler that ignores it: a
// sleep, a call blocked on something other than its connection), the
// process ends anyway with status 0. The library keeps its rule that no
// thread outlives the server; ending the process is the executable's call.
// Until the drain its thread has nothing to do, so it runs the periodic check
// of the pool's queue (QueueWatch): one thread for both, under every policy,
// so that a server runs the same threads whatever it watches.

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "switchboard/server.hpp"

namespace switchboard::cli {

class DrainWatch {
 public:
  /// How long past the close deadline the watchdog waits for server_close():
  /// longer than a policy takes to cut and join what honours the deadline
  /// (the reactor gives its loops a second after the cut).
  static constexpr Seconds kGrace{2};

  /// Watches `server`, whose drain lasts `drain_timeout`; until the drain
  /// begins, runs `tick` (if any) every `tick_interval` on its thread. Make it
  /// before the server's threads would take SIGINT/SIGTERM: its thread
  /// inherits the mask.
  DrainWatch(const BaseServer& server, Seconds drain_timeout, std::function<void()> tick = {},
             Seconds tick_interval = Seconds{1});
  /// Stops the watchdog.
  ~DrainWatch();
  DrainWatch(const DrainWatch&) = delete;
  DrainWatch& operator=(const DrainWatch&) = delete;

  /// The drain begins (StopOnSignals::OnDrain), or the server retires (a
  /// worker whose master reloads): says so on stderr and to systemd
  /// (STOPPING=1, STATUS=), once, and starts the watchdog's clock. Thread safe.
  void began(bool retiring = false);
  /// server_close() returned: says how many connections the deadline cut, if
  /// any, and stands the watchdog down. Thread safe.
  void closed();

 private:
  void watch();
  [[noreturn]] void give_up();  // past the deadline and its grace: report, exit 0
  void report_cut(std::uint64_t cut);

  const BaseServer& server_;
  const Seconds drain_timeout_;
  const std::function<void()> tick_;
  const Seconds tick_interval_;
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

}  // namespace switchboard::cli
