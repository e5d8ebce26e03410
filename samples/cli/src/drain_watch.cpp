#include "drain_watch.hpp"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <utility>

#include "switchboard/systemd.hpp"

namespace switchboard::cli {
namespace {

void say(const std::ostringstream& line) {
  std::cerr << line.str() << std::flush;  // one write: lines from threads never interleave
}

}  // namespace

DrainWatch::DrainWatch(const BaseServer& server, Seconds drain_timeout, std::function<void()> tick,
                       Seconds tick_interval)
    : server_(server),
      drain_timeout_(drain_timeout),
      tick_(std::move(tick)),
      tick_interval_(tick_interval) {
  // Only a file this server made is its to remove (not a borrowed socket's,
  // nor a master's, whose workers adopt it).
  if (server.server_address().is_unix() && server.options().bind_and_activate) {
    struct stat st {};
    if (::lstat(server.server_address().path().c_str(), &st) == 0) {
      unix_path_ = server.server_address().path();
      unix_dev_ = st.st_dev;
      unix_ino_ = st.st_ino;
    }
  }
  thread_ = std::thread([this] { watch(); });
}

DrainWatch::~DrainWatch() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void DrainWatch::began(bool retiring) {
  const ServerStats stats = server_.stats();  // before the drain ends the idle ones
  {
    std::lock_guard lock(mutex_);
    if (began_) return;
    began_ = true;
    began_at_ = std::chrono::steady_clock::now();
  }
  changed_.notify_all();
  std::ostringstream line;
  if (retiring) {
    line << "retiring: serving " << stats.connections
         << " open connections until their clients close them, up to " << drain_timeout_.count()
         << " s\n";
    return say(line);
  }
  line << "draining " << stats.connections << " connections, up to " << drain_timeout_.count()
       << " s";
  systemd::notify("STOPPING=1\nSTATUS=" + line.str());
  line << "; again to quit\n";
  say(line);
}

void DrainWatch::closed() {
  const std::uint64_t cut = server_.stats().cut;
  // Taken after give_up() has begun, the lock is never released: the process ends there.
  std::lock_guard lock(mutex_);
  closed_ = true;
  changed_.notify_all();
  report_cut(cut);
}

void DrainWatch::report_cut(std::uint64_t cut) {
  if (cut == 0 || std::exchange(reported_, true)) return;
  std::ostringstream line;
  line << "drain deadline: " << cut << " connections cut\n";
  say(line);
}

void DrainWatch::watch() {
  std::unique_lock lock(mutex_);
  const auto woken = [this] { return began_ || stop_; };
  if (tick_) {
    const auto interval =
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(tick_interval_);
    while (!changed_.wait_for(lock, interval, woken)) {
      lock.unlock();  // began() and closed() need not wait for the tick
      tick_();
      lock.lock();
    }
  } else {
    changed_.wait(lock, woken);
  }
  if (stop_) return;
  // The library's close deadline is set just after began(): this one is later.
  const auto deadline = began_at_ + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                        drain_timeout_ + kGrace);
  if (changed_.wait_until(lock, deadline, [this] { return closed_ || stop_; })) return;
  give_up();  // with the lock held: closed() cannot report or return meanwhile
}

void DrainWatch::give_up() {
  const ServerStats stats = server_.stats();
  report_cut(stats.cut);  // counted as the deadline cut them, handlers still running included
  std::ostringstream line;
  line << "drain deadline: " << stats.active_requests << " handlers still running "
       << kGrace.count() << " s after it; exiting\n";
  say(line);
  // The server would have removed its socket file on close: only if it is still ours.
  struct stat st {};
  if (!unix_path_.empty() && ::lstat(unix_path_.c_str(), &st) == 0 && st.st_dev == unix_dev_ &&
      st.st_ino == unix_ino_)
    ::unlink(unix_path_.c_str());
  std::cout.flush();
  std::fflush(nullptr);
  // No destructors: they would join the handlers that ignore the deadline.
  // exit_group is _exit() without the end-of-process checks a sanitizer
  // runtime hooks into it (TSan's reports the threads left running, which
  // leaving now means by design), as StopOnSignals' second signal does.
  ::syscall(SYS_exit_group, 0);
  std::_Exit(0);  // not reached
}

}  // namespace switchboard::cli
