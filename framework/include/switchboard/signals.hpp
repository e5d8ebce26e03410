#pragma once
// For executables: SIGINT/SIGTERM stop a server gracefully. The first signal
// drains it (BaseServer::drain(): new connects refused, idle connections
// closed, requests in flight finished up to close_timeout), which makes
// serve_forever() return; the caller then runs server_close(). A second signal
// exits the process at once with status 128 + signal number.
// Opt-in: the library itself never touches signal dispositions. Its watcher
// thread takes the signals even where other threads block them: block them
// (pthread_sigmask) before the server starts its threads, as the samples do,
// and no handler thread is interrupted (clang 14's TSan, for one, holds a
// signal that lands on a thread blocked in recv() until that recv() returns).
// Block them as the process starts, and a signal that comes before the
// watcher is up waits for it instead of ending the process.

#include <functional>
#include <initializer_list>
#include <memory>

namespace switchboard {

class BaseServer;

class StopOnSignals {
 public:
  /// Runs on the watcher thread when the first signal comes, just before the
  /// drain begins (to say what the drain will do, or to start a watchdog).
  /// What it throws is ignored; the drain begins all the same.
  using OnDrain = std::function<void(int signal)>;

  /// Installs the handlers; the previous ones come back in the destructor.
  /// One instance per process at a time. Throws std::logic_error otherwise.
  explicit StopOnSignals(BaseServer& server,
                         std::initializer_list<int> signals = {2 /*SIGINT*/, 15 /*SIGTERM*/});
  /// The same, with `on_drain` called as the drain begins.
  StopOnSignals(BaseServer& server, OnDrain on_drain,
                std::initializer_list<int> signals = {2 /*SIGINT*/, 15 /*SIGTERM*/});
  /// The same, and `retire_signals` retire the server (BaseServer::retire():
  /// its open connections go on, for a worker whose master reloads);
  /// `on_drain` is called for them too. A drain signal after one drains (the
  /// idle connections end); a retire signal counts as no second signal.
  StopOnSignals(BaseServer& server, OnDrain on_drain, std::initializer_list<int> signals,
                std::initializer_list<int> retire_signals);
  ~StopOnSignals();
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

  /// The signal that stopped the server; 0 if none came.
  int signal() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace switchboard
