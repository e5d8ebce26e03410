#pragma once
// ForkingMixIn: a child process for each connection or datagram. The server
// reaps only its own children, as each exits (a pidfd per child, watched by one
// reaper thread; never waitpid(-1)). options().max_children caps them, with
// options().overload deciding what happens at the cap. server_close() waits for
// the children (SIGTERM: they drain their connection) up to the close deadline, then kills the rest
// (by pidfd, so never a recycled PID) and reaps them: no zombies after close.

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

  /// fork(): the child's pid in the parent, 0 in the child. Throws std::system_error.
  pid_t fork();
  /// Keeps `entry` (the child's connection, counted among the server's open
  /// ones) until the child `pid` has exited.
  void attach(pid_t pid, ConnectionEntry entry);
  std::size_t active() const;
  /// Waits until fewer than `limit` children run; false if `stopping()` became true.
  bool wait_below(std::size_t limit, const std::function<bool()>& stopping);
  /// Wakes wait_below() to look at `stopping` again.
  void interrupt();
  /// Sends `sig` to every child (by pidfd: never a recycled PID).
  void signal_all(int sig);
  /// Asks the children to drain (SIGTERM), waits until `deadline` for them to
  /// exit, then kills and reaps the rest.
  void close(std::chrono::steady_clock::time_point deadline);
  /// In a child: SIGTERM and SIGINT run `drain` on a thread of the child's
  /// (the parent's handlers, inherited by fork(), must not run here).
  static void drain_on_signal(std::function<void()> drain);

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
    const pid_t pid = children_.fork();
    if (pid == 0) {
      this->close_in_child();
      detail::ChildProcesses::drain_on_signal([this] { this->drain_connections(); });
      const bool ok = this->finish_and_close(request);
      std::fflush(nullptr);
      ::_exit(ok ? 0 : 1);
    }
    // The child serves it; shutdown() here would cut the child's connection.
    // It counts as open until the child exits.
    children_.attach(pid, this->hand_over(request));
  }
  void add_policy_stats(ServerStats& stats) const override {
    Server::add_policy_stats(stats);
    stats.processes += children_.active();
  }
  void interrupt_waits() override {
    Server::interrupt_waits();
    children_.interrupt();
    if (this->draining()) children_.signal_all(SIGTERM);  // each child drains its connection
  }

 private:
  detail::ChildProcesses children_;
};

using ForkingTCPServer = ForkingMixIn<TCPServer>;
using ForkingUDPServer = ForkingMixIn<UDPServer>;
using ForkingUnixStreamServer = ForkingMixIn<UnixStreamServer>;
using ForkingUnixDatagramServer = ForkingMixIn<UnixDatagramServer>;

}  // namespace switchboard
