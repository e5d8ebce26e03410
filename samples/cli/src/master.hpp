#pragma once
// --workers N: a master process that holds the listening socket and forks N
// workers that serve on it, as nginx and gunicorn run theirs. One socket,
// one accept queue, held by the master from start to end: a worker that
// exits, is replaced or retires loses no connection queued on it.
//
// Signals to the master (it alone takes them; workers leave the terminal's
// process group):
//   TERM, INT   stop: every worker drains (idle connections end) within
//               --drain-timeout, then the master exits 0; a second: at once
//   HUP         reload: a new generation of workers starts, and only once
//               every one of them is ready does the old one retire (stop
//               accepting, serve its open connections until their clients
//               close them or --drain-timeout passes)
//   TTIN, TTOU  one worker more, or one fewer (retired)
//   USR2        upgrade: the executable is run again (the path it was
//               started from, so a replaced file runs) with the listener
//               handed over by socket activation's protocol (LISTEN_FDS);
//               once the new master's workers are all ready, this master's
//               retire and it exits. If the new one fails or is not ready
//               in time, this one serves on and says why.
// A worker that dies is replaced, after a delay that grows while workers
// keep dying young, so a crash at start-up cannot fork-bomb the host.
//
// The master is one thread (a signalfd and the workers' report pipes under
// poll()), so that fork() copies no lock another thread holds. Workers tell
// it on their pipe when they are ready and, at the end, how many
// connections they served.

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "switchboard/server.hpp"
#include "switchboard/stats.hpp"

namespace switchboard::cli {

struct MasterConfig {
  std::string name;               ///< the program, for errors
  std::size_t workers;            ///< at start, at least 1
  Seconds drain_timeout;          ///< each worker's; the master allows it and a grace
  std::string pid_file;           ///< written once ready; "" for none
  std::string executable;         ///< absolute: what USR2 runs
  std::vector<std::string> argv;  ///< its arguments, argv[0] first
  int upgrade_fd = -1;            ///< an upgrading master's pipe: "ready" once serving
  Seconds drain_delay{0};         ///< after TERM, how long the workers serve on before their drain
  Seconds stats_interval{0};      ///< the workers' counters, summed, on stderr this often; 0: never
  bool reuseport = false;         ///< the workers bind their own sockets: no upgrade by hand-over
};

/// What a worker runs in its process: serves on `listener` (a descriptor of
/// the master's socket, its own to close) and tells the master through
/// `report` (WorkerReport). Returns the worker's exit status.
class WorkerReport;
using WorkerMain = std::function<int(Socket listener, WorkerReport& report)>;

/// A worker's end of its pipe to the master.
class WorkerReport {
 public:
  explicit WorkerReport(int fd) : fd_(fd) {}
  /// Serving: the master counts this worker ready.
  void ready();
  /// Its counters: every --stats-interval, and as it exits.
  void stats(const ServerStats& now);
  /// It served --max-requests: the master starts another, then retires it.
  void recycle();

 private:
  void say(const std::string& line);
  int fd_;
};

/// Runs the master over `holder`, a server bound (or given its socket) that
/// never serves: it holds the listener. Prints "listening on URL" once every
/// worker of the first generation is ready. Returns main()'s status: 0 after
/// TERM/INT, 1 if the first generation could not start.
int run_master(BaseServer& holder, const MasterConfig& config, const WorkerMain& worker);

}  // namespace switchboard::cli
