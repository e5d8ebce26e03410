#pragma once
// ForkingMixIn: a child process for each connection or datagram. The server
// reaps only its own children, as each exits (a pidfd per child, watched by one
// reaper thread; never waitpid(-1); a child holds none of its siblings').
// options().max_children caps them, with options().overload deciding what
// happens at the cap. A drain reaches the children through a descriptor they
// inherit (no signal: a child forked while the drain begins gets it too);
// server_close() waits for them to drain their connections up to the close
// deadline, then kills the rest (by pidfd, so never a recycled PID) and reaps
// them: no zombies after close.

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <memory>

#include "switchboard/detail/limit.hpp"
#include "switchboard/server.hpp"

namespace switchboard {
namespace detail {

/// The children this server forked. Thread safe.
class ChildProcesses {
 public:
  /// At most `max_children` at once (0: no cap); a child killed at the close
  /// deadline with a connection counts in `counters` (if any) as cut.
  explicit ChildProcesses(std::size_t max_children, Counters* counters = nullptr);
  ~ChildProcesses();

  /// A place for one more child: overload decides at the cap (block waits
  /// for one to exit, until `stopping()`). The child's exit gives it back;
  /// release() gives back one whose fork() failed.
  bool admit(Overload overload, const std::function<bool()>& stopping);
  void release();
  /// fork() for `request`: 0 in the child, which serves it, and whose reader
  /// then learns of the drain from drain_fd(); in the parent the child's pid,
  /// and the connection is the child's (closed here, counted among the
  /// server's open ones until the child exits). Throws std::system_error.
  pid_t fork(Request& request);
  std::size_t active() const;
  /// Wakes admit() to look at `stopping` again.
  void interrupt();
  /// Asks every child to drain, those forked from now on included: makes
  /// drain_fd() readable for good.
  void drain_all();
  /// Readable once drain_all() was called; a child polls its inherited copy.
  int drain_fd() const;
  /// Waits until `deadline` for the children to exit (drain_all() asks the
  /// idle ones to end now), then kills (by pidfd: never a recycled PID) and reaps the rest.
  void close(std::chrono::steady_clock::time_point deadline);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace detail

template <class Server>
class ForkingMixIn : public Server {
 public:
  using Server::Server;
  ~ForkingMixIn() override {
    this->shutdown();
    ForkingMixIn::server_close();
    children_.close(this->close_deadline());  // block_on_close off: the waiting is here
  }

  /// With block_on_close (the default) waits for the children until the close
  /// deadline, then kills and reaps the rest; without, returns at once and
  /// the destructor does that.
  void server_close() override {
    Server::server_close();
    if (this->options().block_on_close) children_.close(this->close_deadline());
  }
  /// Children running now. Thread safe.
  std::size_t active_children() const { return children_.active(); }

 protected:
  void process_request(Request request) override {
    if (!children_.admit(this->options().overload, [this] { return this->shutdown_requested(); }))
      return this->refuse(request);
    pid_t pid = 0;
    try {
      pid = children_.fork(request);
    } catch (...) {
      children_.release();
      throw;
    }
    if (pid == 0) {
      this->become_child();
      const bool ok = this->finish_and_close(request);
      std::fflush(nullptr);
      ::_exit(ok ? 0 : 1);
    }
  }
  void add_policy_stats(ServerStats& stats) const override {
    Server::add_policy_stats(stats);
    stats.processes += children_.active();
  }
  void interrupt_waits() override {
    Server::interrupt_waits();
    children_.interrupt();
  }
  void on_drain() override {
    Server::on_drain();
    children_.drain_all();  // each child drains its connection
  }

 private:
  detail::ChildProcesses children_{this->options().max_children, &this->counters()};
};

using ForkingTCPServer = ForkingMixIn<TCPServer>;
using ForkingUDPServer = ForkingMixIn<UDPServer>;
using ForkingUnixStreamServer = ForkingMixIn<UnixStreamServer>;
using ForkingUnixDatagramServer = ForkingMixIn<UnixDatagramServer>;

}  // namespace switchboard
