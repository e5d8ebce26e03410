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

#include "switchboard/server.hpp"

namespace switchboard {
namespace detail {

/// The children this server forked. Thread safe.
class ChildProcesses {
 public:
  ChildProcesses();
  ~ChildProcesses();

  /// fork() for `request`: 0 in the child, which serves it, and whose reader
  /// then learns of the drain from drain_fd(); in the parent the child's pid,
  /// and the connection is the child's (closed here, counted among the
  /// server's open ones until the child exits). Throws std::system_error.
  pid_t fork(Request& request);
  std::size_t active() const;
  /// Waits until fewer than `limit` children run; false if `stopping()` became true.
  bool wait_below(std::size_t limit, const std::function<bool()>& stopping);
  /// Wakes wait_below() to look at `stopping` again.
  void interrupt();
  /// Asks every child to drain, those forked from now on included: makes
  /// drain_fd() readable for good.
  void drain_all();
  /// Readable once drain_all() was called; a child polls its inherited copy.
  int drain_fd() const;
  /// Asks the children to drain, waits until `deadline` for them to exit,
  /// then kills (by pidfd: never a recycled PID) and reaps the rest.
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
  }

  void server_close() override {
    Server::server_close();
    children_.close(this->options().block_on_close ? this->close_deadline()
                                                   : std::chrono::steady_clock::now());
  }
  /// Children running now. Thread safe.
  std::size_t active_children() const { return children_.active(); }

 protected:
  void process_request(Request request) override {
    const std::size_t cap = this->options().max_children;
    if (cap != 0 && children_.active() >= cap) {
      if (this->options().overload == Overload::refuse ||
          !children_.wait_below(cap, [this] { return this->shutdown_requested(); })) {
        this->refuse(request);
        return;
      }
    }
    if (children_.fork(request) == 0) {
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
  detail::ChildProcesses children_;
};

using ForkingTCPServer = ForkingMixIn<TCPServer>;
using ForkingUDPServer = ForkingMixIn<UDPServer>;
using ForkingUnixStreamServer = ForkingMixIn<UnixStreamServer>;
using ForkingUnixDatagramServer = ForkingMixIn<UnixDatagramServer>;

}  // namespace switchboard
