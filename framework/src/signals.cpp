#include "switchboard/signals.hpp"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "switchboard/server.hpp"
#include "switchboard/socket.hpp"

namespace switchboard {
namespace {

// What the handler may touch: async-signal-safe atomics and a descriptor.
std::atomic<int> g_wake_fd{-1};
std::atomic<int> g_first_signal{0};
std::atomic<std::uint64_t> g_retire_signals{0};  // bit n: signal n retires
std::atomic<int> g_retire_signal{0};             // the retire signal that came

// The second signal: leave now. exit_group is what _exit() does, without the
// end-of-process checks a sanitizer runtime hooks into _exit() (not safe in a
// signal handler, and TSan's reports every thread still running, which
// leaving at once means by design).
[[noreturn]] void exit_now(int status) {
  ::syscall(SYS_exit_group, status);
  _exit(status);  // not reached
}

extern "C" void on_signal(int sig) {
  if (sig < 64 && (g_retire_signals.load() >> sig & 1) != 0) {
    g_retire_signal = sig;
  } else if (int expected = 0; !g_first_signal.compare_exchange_strong(expected, sig)) {
    exit_now(128 + sig);  // the second one
  }
  const std::uint64_t one = 1;
  if (const int fd = g_wake_fd.load(); fd >= 0) [[maybe_unused]]
    auto n = ::write(fd, &one, sizeof one);
}

// A forked child must not wake its parent's watcher through the inherited descriptor.
extern "C" void forget_wake_fd_in_child() { g_wake_fd = -1; }

// clang 14's TSan can hold a signal that lands just as poll() begins until
// poll() returns (seen once in CI: a drain that never began). Under it the
// watcher looks again every 100 ms; elsewhere it waits for the handler's write.
#if defined(__SANITIZE_THREAD__)
#define SWITCHBOARD_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SWITCHBOARD_TSAN 1
#endif
#endif
#ifdef SWITCHBOARD_TSAN
constexpr int kWatchMs = 100;
#else
constexpr int kWatchMs = -1;
#endif

}  // namespace

// A watcher thread turns the handler's eventfd write into shutdown(), which a
// signal handler could not call (it takes locks).
struct StopOnSignals::State {
  Socket wake{::eventfd(0, EFD_CLOEXEC)};
  std::map<int, struct sigaction> previous;
  std::atomic<bool> closing{false};
  OnDrain on_drain;
  std::thread watcher;
};

StopOnSignals::StopOnSignals(BaseServer& server, std::initializer_list<int> signals)
    : StopOnSignals(server, nullptr, signals) {}

StopOnSignals::StopOnSignals(BaseServer& server, OnDrain on_drain,
                             std::initializer_list<int> signals)
    : StopOnSignals(server, std::move(on_drain), signals, {}) {}

StopOnSignals::StopOnSignals(BaseServer& server, OnDrain on_drain,
                             std::initializer_list<int> signals,
                             std::initializer_list<int> retire_signals)
    : state_(std::make_unique<State>()) {
  if (!state_->wake) throw_errno("eventfd");
  std::uint64_t retiring = 0;
  for (int sig : retire_signals) {
    if (sig <= 0 || sig >= 64)
      throw std::invalid_argument("StopOnSignals: no signal " + std::to_string(sig));
    retiring |= std::uint64_t{1} << sig;
  }
  int expected = -1;
  if (!g_wake_fd.compare_exchange_strong(expected, state_->wake.fd()))
    throw std::logic_error("only one StopOnSignals may exist at a time");
  g_first_signal = 0;
  g_retire_signal = 0;
  g_retire_signals = retiring;
  std::vector<int> all(signals);
  all.insert(all.end(), retire_signals.begin(), retire_signals.end());
  for (int sig : all) {
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    struct sigaction old {};
    if (::sigaction(sig, &sa, &old) == 0) state_->previous[sig] = old;
  }
  static const int registered = ::pthread_atfork(nullptr, nullptr, forget_wake_fd_in_child);
  (void)registered;
  sigset_t mine;
  sigemptyset(&mine);
  for (int sig : all) sigaddset(&mine, sig);
  state_->on_drain = std::move(on_drain);
  state_->watcher = std::thread([this, &server, fd = state_->wake.fd(), mine] {
    // Taken here even when the serving threads block them (see signals.hpp).
    // It stays until the destructor, so that the second signal finds it.
    ::pthread_sigmask(SIG_UNBLOCK, &mine, nullptr);
    bool drained = false;
    bool retired = false;
    const auto said = [this](int sig) {
      if (!state_->on_drain) return;
      try {
        state_->on_drain(sig);
      } catch (...) {  // the drain matters more than what was to be said of it
      }
    };
    for (;;) {  // a wake without a signal of ours (a stray write) is not a stop
      // poll() first: clang 14's TSan runs a signal that arrives during a
      // blocking read() only once the read returns, which here it never would.
      pollfd p{fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, kWatchMs);
      if (ready < 0) continue;  // EINTR
      std::uint64_t n = 0;
      if (ready > 0 && ::read(fd, &n, sizeof n) < 0 && errno == EINTR) continue;
      if (state_->closing.load()) return;
      if (const int sig = g_first_signal.load(); !drained && sig != 0) {
        drained = true;
        said(sig);
        server.drain();
      } else if (const int retire = g_retire_signal.load(); !retired && !drained && retire != 0) {
        retired = true;
        said(retire);
        server.retire();
      }
    }
  });
}

StopOnSignals::~StopOnSignals() {
  state_->closing = true;
  const std::uint64_t one = 1;  // release the watcher if no signal came
  [[maybe_unused]] auto n = ::write(state_->wake.fd(), &one, sizeof one);
  state_->watcher.join();
  for (auto& [sig, old] : state_->previous) ::sigaction(sig, &old, nullptr);
  g_retire_signals = 0;
  g_wake_fd = -1;
}

int StopOnSignals::signal() const { return g_first_signal.load(); }

}  // namespace switchboard
