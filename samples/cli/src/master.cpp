#include "master.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <list>
#include <optional>
#include <sstream>
#include <system_error>

#include "handover.hpp"
#include "pid_file.hpp"
#include "switchboard/systemd.hpp"
#include "worker_counts.hpp"

namespace switchboard::cli {
namespace {

using Clock = std::chrono::steady_clock;

// How long a new generation may take to be ready before a reload gives up on it.
constexpr std::chrono::seconds kReadyTimeout{60};
// A worker that dies younger than this counts as a crash: the next start waits.
constexpr std::chrono::seconds kYoung{1};
constexpr std::chrono::milliseconds kFirstDelay{100};
constexpr std::chrono::milliseconds kLongestDelay{10'000};
// Past a stop's drain deadline and this, workers still running are killed.
constexpr std::chrono::seconds kGrace{5};

const int kSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGTTIN, SIGTTOU, SIGCHLD, SIGQUIT, SIGUSR2};

void say(const std::string& line) {
  std::cerr << "master: " + line + "\n" << std::flush;  // one write
}

std::string describe(int status) {
  if (WIFSIGNALED(status))
    return "killed by signal " + std::to_string(WTERMSIG(status)) + " (" +
           ::strsignal(WTERMSIG(status)) + ")";
  return "exited with status " + std::to_string(WEXITSTATUS(status));
}

int poll_timeout(std::optional<Clock::time_point> due) {
  if (!due) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(*due - Clock::now()).count();
  return static_cast<int>(std::clamp<long long>(left, 0, 60'000));
}

struct Worker {
  pid_t pid = 0;
  unsigned generation = 0;
  Socket report;  // the read end of its pipe (a pipe, with Socket's close-once ownership)
  std::string received;
  bool ready = false;
  bool retiring = false;
  bool wants_recycle = false;  // it served --max-requests
  pid_t replacement = 0;       // the worker starting to take its place
  pid_t replaces = 0;          // the worker it takes the place of, once ready
  Counts stats;                // its last report
  Clock::time_point started;
};

class Master {
 public:
  Master(BaseServer& holder, const MasterConfig& config, const WorkerMain& worker)
      : holder_(holder), config_(config), worker_(worker), target_(config.workers) {}

  int run();

 private:
  void block_signals();
  void spawn(unsigned generation);
  [[noreturn]] void become_worker(int report_fd);
  void read_report(Worker& w);
  void on_signal(const signalfd_siginfo& info);
  void reap();
  void exited(Worker& w, int status);
  void check_generation();
  void reload();
  void reload_failed(const std::string& why);
  void upgrade();
  void read_upgrade();
  void upgrade_failed(const std::string& why);
  void retire(Worker& w);
  void recycle();
  std::chrono::milliseconds crash_delay(const Worker& w);
  void stop(int sig);
  void drain_workers();
  void start_due_workers();
  std::size_t serving() const;  // current generation, not retiring
  std::optional<Clock::time_point> next_due() const;
  void print_stats();
  void write_pid_file();
  void remove_pid_file();

  BaseServer& holder_;
  const MasterConfig& config_;
  const WorkerMain& worker_;
  Socket signals_;
  std::list<Worker> workers_;
  std::size_t target_;       // workers of the current generation wanted
  unsigned generation_ = 1;  // serving
  unsigned pending_ = 0;     // a reload's generation, until it is ready; 0: none
  Clock::time_point pending_since_;
  bool started_ = false;               // the first generation was ready
  std::optional<std::string> failed_;  // why the first generation did not start
  int stopping_ = 0;                   // the stop signal
  Clock::time_point stop_deadline_;
  std::size_t crashes_ = 0;                  // workers in a row that died young
  std::vector<Clock::time_point> restarts_;  // replacements due
  pid_t upgrade_ = 0;                        // a new master starting; 0: none
  Socket upgrade_report_;                    // its pipe
  std::string upgrade_received_;
  Clock::time_point upgrade_since_;
  bool handed_over_ = false;  // the new master serves: this one's workers retire, then it exits
  Clock::time_point recycle_after_;            // a replacement died young: the next waits
  std::optional<Clock::time_point> drain_at_;  // --drain-delay: when the workers are told
  Counts exited_;                              // what exited workers counted, gauges aside
  Clock::time_point next_stats_;
};

void Master::block_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : kSignals) sigaddset(&set, sig);
  ::pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signals_ = Socket(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signals_) throw std::system_error(errno, std::generic_category(), "signalfd");
}

void Master::spawn(unsigned generation) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0)
    throw std::system_error(errno, std::generic_category(), "pipe");
  std::fflush(nullptr);  // or the child would write this process's buffered output again
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    throw std::system_error(err, std::generic_category(), "fork");
  }
  if (pid == 0) {
    ::close(pipe_fds[0]);
    become_worker(pipe_fds[1]);
  }
  ::close(pipe_fds[1]);
  ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);  // read_report() takes what is there
  Worker& w = workers_.emplace_back();
  w.pid = pid;
  w.generation = generation;
  w.report = Socket(pipe_fds[0]);
  w.started = Clock::now();
}

// In the child: what is the master's stays the master's, and it exits here.
void Master::become_worker(int report_fd) {
  const pid_t master = ::getppid();
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // an orphan drains and exits
  if (::getppid() != master) std::_Exit(1);
  for (Worker& w : workers_) w.report.close();
  upgrade_report_.close();
  signals_.close();
  ::setpgid(0, 0);              // a terminal's ^C goes to the master, which stops the workers once
  ::unsetenv("NOTIFY_SOCKET");  // systemd hears the master
  ::signal(SIGPIPE, SIG_IGN);   // a report to a master that is gone fails, and that is all
  // The stop and retire signals stay blocked for the worker's watcher; the rest come back.
  sigset_t unblock;
  sigemptyset(&unblock);
  for (int sig : {SIGHUP, SIGTTIN, SIGTTOU, SIGCHLD}) sigaddset(&unblock, sig);
  ::pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);
  int status = 1;
  try {
    Socket listener(::fcntl(holder_.socket().fd(), F_DUPFD_CLOEXEC, 3));
    if (!listener) throw std::system_error(errno, std::generic_category(), "dup");
    WorkerReport report(report_fd);
    status = worker_(std::move(listener), report);
  } catch (const std::exception& e) {
    std::cerr << config_.name << ": worker " << ::getpid() << ": " << e.what() << '\n';
  }
  std::fflush(nullptr);
  // No destructors: the holder's would remove the master's Unix socket file.
  ::syscall(SYS_exit_group, status);
  std::_Exit(status);  // not reached
}

void Master::read_report(Worker& w) {
  char buffer[256];
  for (;;) {
    const ssize_t n = ::read(w.report.fd(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (n == 0) w.report.close();  // it exited, or closed its end: the reap says which
      break;
    }
    w.received.append(buffer, static_cast<std::size_t>(n));
  }
  for (std::size_t end; (end = w.received.find('\n')) != std::string::npos;) {
    const std::string line = w.received.substr(0, end);
    w.received.erase(0, end + 1);
    if (line == "ready") {
      w.ready = true;
    } else if (line == "recycle") {
      w.wants_recycle = true;
    } else if (line.rfind("stats ", 0) == 0) {
      w.stats = parse_counts(line.substr(6));
    }
  }
}

std::size_t Master::serving() const {
  return static_cast<std::size_t>(
      std::count_if(workers_.begin(), workers_.end(),
                    [&](const Worker& w) { return w.generation == generation_ && !w.retiring; }));
}

void Master::retire(Worker& w) {
  if (w.retiring) return;
  w.retiring = true;
  ::kill(w.pid, SIGQUIT);  // our child, not yet reaped: the PID is its own
}

void Master::reload() {
  if (stopping_ != 0) return;
  if (pending_ != 0)
    return say("reload: generation " + std::to_string(pending_) + " is still starting");
  pending_ = generation_ + 1;
  pending_since_ = Clock::now();
  // READY=1 follows when the new generation is ready (or the reload fails).
  systemd::notify("RELOADING=1\nSTATUS=reloading: starting generation " + std::to_string(pending_));
  say("reload: starting generation " + std::to_string(pending_) + " (" + std::to_string(target_) +
      " workers)");
  try {
    for (std::size_t i = 0; i < target_; ++i) spawn(pending_);
  } catch (const std::exception& e) {
    reload_failed(e.what());
  }
}

// The new generation's workers that started retire; the serving one serves on.
void Master::reload_failed(const std::string& why) {
  say("reload failed: " + why + "; generation " + std::to_string(generation_) + " serves on");
  for (Worker& w : workers_)
    if (w.generation == pending_) retire(w);
  pending_ = 0;
  systemd::notify("READY=1\nSTATUS=reload failed; serving on " + holder_.url() + ", generation " +
                  std::to_string(generation_));
}

void Master::upgrade() {
  if (stopping_ != 0 || handed_over_) return;
  if (config_.reuseport)
    return say("upgrade: not with --reuseport (no listener to hand over); HUP reloads");
  if (upgrade_ != 0)
    return say("upgrade: master " + std::to_string(upgrade_) + " is still starting");
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0)
    return say(std::string("upgrade failed: pipe: ") + std::strerror(errno));
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return say(std::string("upgrade failed: fork: ") + std::strerror(err));
  }
  if (pid == 0) {
    ::close(pipe_fds[0]);
    exec_with_listener(holder_.socket().fd(), pipe_fds[1], config_.executable, config_.argv);
  }
  ::close(pipe_fds[1]);
  ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
  upgrade_ = pid;
  upgrade_report_ = Socket(pipe_fds[0]);
  upgrade_received_.clear();
  upgrade_since_ = Clock::now();
  say("upgrade: starting " + config_.executable + " as master " + std::to_string(pid));
}

void Master::read_upgrade() {
  char buffer[64];
  ssize_t n = 0;
  while ((n = ::read(upgrade_report_.fd(), buffer, sizeof buffer)) > 0)
    upgrade_received_.append(buffer, static_cast<std::size_t>(n));
  if (n == 0) upgrade_report_.close();
  if (upgrade_received_.find("ready\n") == std::string::npos) return;
  // The new master serves: this one's workers retire, and it leaves.
  say("upgrade: master " + std::to_string(upgrade_) + " ready; this master's " +
      std::to_string(workers_.size()) + " workers retire");
  systemd::notify("MAINPID=" + std::to_string(upgrade_) + "\nREADY=1");
  handed_over_ = true;
  upgrade_ = 0;
  upgrade_report_.close();
  pending_ = 0;
  restarts_.clear();
  for (Worker& w : workers_) retire(w);
}

void Master::upgrade_failed(const std::string& why) {
  say("upgrade failed: " + why + "; this master serves on");
  upgrade_report_.close();
  upgrade_ = 0;
}

// A worker that served --max-requests is replaced: a new one starts, and once
// it is ready the old one retires.
void Master::recycle() {
  if (stopping_ != 0 || handed_over_ || Clock::now() < recycle_after_) return;
  for (Worker& w : workers_) {
    if (!w.wants_recycle || w.retiring || w.replacement != 0 || w.generation != generation_)
      continue;
    try {
      spawn(generation_);
    } catch (const std::exception& e) {
      say(std::string("cannot start a worker: ") + e.what());
      return;
    }
    workers_.back().replaces = w.pid;
    w.replacement = workers_.back().pid;
    say("worker " + std::to_string(w.pid) + " served its --max-requests: worker " +
        std::to_string(w.replacement) + " takes its place");
  }
}

// A generation is ready when every worker of it is: the first one prints the
// listening line; a reload's retires the one before.
void Master::check_generation() {
  if (!started_ && !failed_) {
    const bool all = std::count_if(workers_.begin(), workers_.end(), [](const Worker& w) {
                       return w.ready;
                     }) == static_cast<std::ptrdiff_t>(target_);
    if (!all) return;
    started_ = true;
    std::cout << "listening on " << holder_.url() << std::endl;
    write_pid_file();
    if (config_.upgrade_fd >= 0) {  // the master that started this one retires now
      WorkerReport(config_.upgrade_fd).ready();
      ::close(config_.upgrade_fd);
    }
    systemd::notify("READY=1\nSTATUS=serving on " + holder_.url() + " with " +
                    std::to_string(target_) + " workers");
    return;
  }
  for (Worker& w : workers_) {  // a recycled worker's replacement is ready: it retires
    if (w.replaces == 0 || !w.ready) continue;
    for (Worker& old : workers_)
      if (old.pid == w.replaces) retire(old);
    w.replaces = 0;
  }
  if (pending_ == 0) return;
  std::size_t ready = 0;
  for (const Worker& w : workers_) ready += w.generation == pending_ && w.ready;
  if (ready < target_) {
    if (Clock::now() - pending_since_ < kReadyTimeout) return;
    return reload_failed("generation " + std::to_string(pending_) + " not ready after " +
                         std::to_string(kReadyTimeout.count()) + " s");
  }
  std::size_t old = 0;
  for (Worker& w : workers_) {
    if (w.generation < pending_ && !w.retiring) {
      retire(w);
      ++old;
    }
  }
  generation_ = pending_;
  pending_ = 0;
  restarts_.clear();  // the old generation's replacements are not wanted
  say("reload: generation " + std::to_string(generation_) + " ready; " + std::to_string(old) +
      " workers of the one before retire");
  systemd::notify("READY=1\nSTATUS=serving on " + holder_.url() + ", generation " +
                  std::to_string(generation_));
}

void Master::exited(Worker& w, int status) {
  if (w.report) read_report(w);
  add_counts(exited_, w.stats, /*gauges=*/false);
  std::ostringstream line;
  line << "worker " << w.pid << " (generation " << w.generation << ") " << describe(status);
  if (!w.stats.empty()) line << " after " << count_of(w.stats, "total") << " connections";
  if (!started_ && !stopping_) {  // the first generation failed
    failed_ = line.str();
    return;
  }
  if (stopping_ || w.retiring) return say(line.str());
  if (w.generation == pending_ && !w.ready) {
    w.retiring = true;  // gone already
    return reload_failed(line.str() + " before it was ready");
  }
  if (w.generation != generation_) return say(line.str());
  if (w.replaces != 0) {  // a recycled worker's replacement, not ready: the old one serves on
    for (Worker& old : workers_)
      if (old.pid == w.replaces) old.replacement = 0;
    recycle_after_ = Clock::now() + crash_delay(w);
    return say(line.str() + " before it was ready; the worker it was to replace serves on");
  }
  // A worker of the serving generation died: another takes its place.
  const auto delay = crash_delay(w);
  restarts_.push_back(Clock::now() + delay);
  line << "; another starts in " << static_cast<double>(delay.count()) / 1000 << " s";
  say(line.str());
}

// None while workers live; doubling while they die within kYoung of their start.
std::chrono::milliseconds Master::crash_delay(const Worker& w) {
  crashes_ = Clock::now() - w.started < kYoung ? crashes_ + 1 : 0;
  if (crashes_ == 0) return std::chrono::milliseconds(0);
  return std::min(kLongestDelay, kFirstDelay * (1 << std::min<std::size_t>(crashes_ - 1, 10)));
}

// --stats-interval: every worker's counters, summed, with those that exited.
void Master::print_stats() {
  next_stats_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(config_.stats_interval);
  std::vector<const Counts*> live;
  for (const Worker& w : workers_) live.push_back(&w.stats);
  std::cerr << summed_line(exited_, live) + "\n" << std::flush;
}

void Master::reap() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == upgrade_) {
      if (upgrade_report_) read_upgrade();
      if (upgrade_ == pid) upgrade_failed("master " + std::to_string(pid) + " " + describe(status));
      continue;
    }
    auto it = std::find_if(workers_.begin(), workers_.end(),
                           [pid](const Worker& w) { return w.pid == pid; });
    if (it == workers_.end()) continue;
    exited(*it, status);
    workers_.erase(it);
  }
}

void Master::start_due_workers() {
  const auto now = Clock::now();
  auto due = std::partition(restarts_.begin(), restarts_.end(), [now](auto t) { return t > now; });
  const auto n = static_cast<std::size_t>(restarts_.end() - due);
  restarts_.erase(due, restarts_.end());
  for (std::size_t i = 0; i < n && stopping_ == 0 && serving() < target_; ++i) {
    try {
      spawn(generation_);
    } catch (const std::exception& e) {
      say(std::string("cannot start a worker: ") + e.what() + "; trying again");
      restarts_.push_back(now + kLongestDelay);
    }
  }
}

void Master::stop(int sig) {
  if (stopping_ != 0) {  // the second: at once
    for (Worker& w : workers_) ::kill(w.pid, SIGKILL);
    remove_pid_file();
    std::fflush(nullptr);
    ::syscall(SYS_exit_group, 128 + sig);
  }
  stopping_ = sig;
  const auto delay = std::chrono::duration_cast<Clock::duration>(config_.drain_delay);
  drain_at_ = Clock::now() + delay;
  stop_deadline_ =
      *drain_at_ + std::chrono::duration_cast<Clock::duration>(config_.drain_timeout + kGrace);
  if (delay.count() > 0) {
    std::ostringstream line;
    line << "stopping: " << workers_.size() << " workers serve " << config_.drain_delay.count()
         << " s more (--drain-delay), then drain";
    systemd::notify("STOPPING=1\nSTATUS=" + line.str());
    return say(line.str());
  }
  drain_workers();
}

void Master::drain_workers() {
  drain_at_.reset();
  systemd::notify("STOPPING=1\nSTATUS=draining " + std::to_string(workers_.size()) + " workers");
  std::ostringstream line;
  line << "draining " << workers_.size() << " workers, up to " << config_.drain_timeout.count()
       << " s; again to quit";
  say(line.str());
  for (Worker& w : workers_) ::kill(w.pid, SIGTERM);  // each ours, not yet reaped
}

void Master::on_signal(const signalfd_siginfo& info) {
  const int sig = static_cast<int>(info.ssi_signo);
  switch (sig) {
    case SIGTERM:
    case SIGINT:
      return stop(sig);
    case SIGHUP:
      if (!handed_over_) reload();
      return;
    case SIGUSR2:
      return upgrade();
    case SIGTTIN:
      if (stopping_ != 0 || handed_over_) return;
      ++target_;
      say("one worker more: " + std::to_string(target_));
      restarts_.push_back(Clock::now());
      return;
    case SIGTTOU: {
      if (stopping_ != 0 || handed_over_) return;
      if (target_ <= 1) return say("one worker fewer: there is only one");
      --target_;
      say("one worker fewer: " + std::to_string(target_));
      // The newest of the serving generation retires.
      for (auto it = workers_.rbegin(); it != workers_.rend(); ++it) {
        if (it->generation == generation_ && !it->retiring) {
          retire(*it);
          break;
        }
      }
      return;
    }
    default:  // SIGCHLD (reaped below), SIGQUIT (taken so that it does not dump the master)
      return;
  }
}

std::optional<Clock::time_point> Master::next_due() const {
  std::optional<Clock::time_point> due;
  const auto earliest = [&due](Clock::time_point t) {
    if (!due || t < *due) due = t;
  };
  for (auto t : restarts_) earliest(t);
  if (pending_ != 0) earliest(pending_since_ + kReadyTimeout);
  if (upgrade_ != 0) earliest(upgrade_since_ + kReadyTimeout);
  if (recycle_after_ > Clock::now()) earliest(recycle_after_);
  if (stopping_ != 0) earliest(stop_deadline_);
  if (drain_at_) earliest(*drain_at_);
  if (config_.stats_interval.count() > 0) earliest(next_stats_);
  return due;
}

void Master::write_pid_file() {
  if (config_.pid_file.empty()) return;
  if (const std::string failed = cli::write_pid_file(config_.pid_file); !failed.empty())
    say(failed);
}

void Master::remove_pid_file() {
  if (!config_.pid_file.empty()) remove_pid_file_if_ours(config_.pid_file);
}

int Master::run() {
  block_signals();
  next_stats_ = Clock::now() + std::chrono::duration_cast<Clock::duration>(config_.stats_interval);
  try {
    for (std::size_t i = 0; i < target_; ++i) spawn(generation_);
  } catch (const std::exception& e) {
    failed_ = e.what();
  }
  while (!((stopping_ != 0 || handed_over_) && workers_.empty())) {
    if (failed_) {  // the first generation cannot start: the others go, the master says why
      for (Worker& w : workers_) ::kill(w.pid, SIGKILL);
      while (!workers_.empty()) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, 0);
        if (pid < 0 && errno != EINTR) break;
        workers_.remove_if([pid](const Worker& w) { return w.pid == pid; });
      }
      std::cerr << config_.name << ": " << *failed_ << " before it was ready\n";
      return 1;
    }
    std::vector<pollfd> fds{{signals_.fd(), POLLIN, 0}};
    for (const Worker& w : workers_)
      if (w.report) fds.push_back({w.report.fd(), POLLIN, 0});
    if (upgrade_report_) fds.push_back({upgrade_report_.fd(), POLLIN, 0});
    if (::poll(fds.data(), fds.size(), poll_timeout(next_due())) < 0 && errno != EINTR)
      throw std::system_error(errno, std::generic_category(), "poll");
    for (Worker& w : workers_)
      if (w.report) read_report(w);
    if (upgrade_report_) read_upgrade();
    if (upgrade_ != 0 && Clock::now() - upgrade_since_ >= kReadyTimeout) {
      ::kill(upgrade_, SIGTERM);  // our child, not yet reaped
      upgrade_failed("master " + std::to_string(upgrade_) + " not ready after " +
                     std::to_string(kReadyTimeout.count()) + " s");
    }
    for (signalfd_siginfo info; ::read(signals_.fd(), &info, sizeof info) == sizeof info;)
      on_signal(info);
    reap();
    check_generation();
    start_due_workers();
    recycle();
    if (drain_at_ && Clock::now() >= *drain_at_) drain_workers();
    if (config_.stats_interval.count() > 0 && Clock::now() >= next_stats_) print_stats();
    if (stopping_ != 0 && Clock::now() >= stop_deadline_ && !workers_.empty()) {
      say(std::to_string(workers_.size()) + " workers still running " +
          std::to_string(kGrace.count()) + " s past the drain deadline; killing them");
      for (Worker& w : workers_) ::kill(w.pid, SIGKILL);
      stop_deadline_ = Clock::time_point::max();
    }
  }
  if (handed_over_) {
    // The socket is the new master's now: no close of ours may unlink its file.
    std::fflush(nullptr);
    ::syscall(SYS_exit_group, 0);
  }
  remove_pid_file();
  return 0;
}

}  // namespace

int run_master(BaseServer& holder, const MasterConfig& config, const WorkerMain& worker) {
  return Master(holder, config, worker).run();
}

}  // namespace switchboard::cli
