#include "switchboard/forking.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <mutex>
#include <thread>
#include <vector>

#include "connections.hpp"
#include "counters.hpp"
#include "switchboard/socket.hpp"

namespace switchboard::detail {
namespace {

int pidfd_open(pid_t pid) { return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)); }
int pidfd_send_signal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

// A forked child's reader at a request boundary: it waits for the next bytes
// or for the parent's drain (on the descriptor the child inherited), and ends
// only if nothing of a next request has come; it takes nothing before.
class DrainFromParent final : public RequestBoundary {
 public:
  explicit DrainFromParent(int drain_fd) : drain_fd_(drain_fd) {}
  std::size_t next_request(ActiveConnection&, Socket& s, char* into, std::size_t size,
                           std::chrono::steady_clock::time_point first_deadline) override {
    if (first_deadline != std::chrono::steady_clock::time_point{})
      s.wait_readable_until(first_deadline);
    if (!s.wait_readable_or(drain_fd_)) return 0;
    return s.recv_some(into, size);
  }

 private:
  int drain_fd_;
};

}  // namespace

// One reaper thread polls a pidfd per child (and an eventfd for news), so a
// child is reaped as it exits and no other process's child is ever touched.
struct ChildProcesses::State {
  State(std::size_t max_children, Counters* c) : places(max_children), counters(c) {}

  struct Child {
    pid_t pid;
    Socket pidfd;  // not a socket, but the same close-once ownership
    ConnectionEntry connection;
  };

  // Allocates only when the children outgrow its vectors: an allocation under
  // way at fork() can leave the child's allocator locked (clang 14's ASan does).
  void reap() {
    std::vector<pollfd> fds;
    std::vector<Child> exited;  // emptied unlocked: their entries take the server's lock
    fds.reserve(64);
    exited.reserve(64);
    for (;;) {
      fds.assign(1, {wake.fd(), POLLIN, 0});
      {
        std::lock_guard lock(mutex);
        if (!running) {
          running = true;
          changed.notify_all();
        }
        if (stopping && children.empty()) return;
        for (auto& c : children) fds.push_back({c.pidfd.fd(), POLLIN, 0});
      }
      if (::poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR
      if (fds[0].revents) {
        std::uint64_t n;
        [[maybe_unused]] auto r = ::read(wake.fd(), &n, sizeof n);
      }
      {
        std::lock_guard lock(mutex);
        for (std::size_t i = 1; i < fds.size(); ++i) {
          if (!fds[i].revents) continue;
          for (auto it = children.begin(); it != children.end(); ++it) {
            if (it->pidfd.fd() != fds[i].fd) continue;
            int status = 0;
            if (::waitpid(it->pid, &status, WNOHANG) == it->pid) {
              exited.push_back(std::move(*it));
              children.erase(it);
              changed.notify_all();
            }
            break;
          }
        }
      }
      for (std::size_t i = 0; i < exited.size(); ++i) places.release();
      exited.clear();
    }
  }

  void wake_reaper() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wake.fd(), &one, sizeof one);
  }

  Socket wake{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  // Written once by drain_all(), never read: readable from then on in every
  // child, those forked later included, which inherit it (CLOEXEC only bars exec).
  Socket drain{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  DrainFromParent in_child{drain.fd()};
  Limit places;  // max_children: one per child, from admit() until it is reaped
  Counters* counters;
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<Child> children;
  bool running = false;  // the reaper has started and allocated what it needs
  bool stopping = false;
  std::thread reaper;
};

ChildProcesses::ChildProcesses(std::size_t max_children, Counters* counters)
    : state_(std::make_unique<State>(max_children, counters)) {
  if (!state_->wake || !state_->drain) throw_errno("eventfd");
  Socket self(pidfd_open(::getpid()));
  if (!self) throw_errno("the forking policy needs pidfd_open (Linux 5.3 or later)");
}

ChildProcesses::~ChildProcesses() { close(std::chrono::steady_clock::now()); }

pid_t ChildProcesses::fork(Request& request) {
  State& s = *state_;
  {
    // Started and settled before the first fork(), for the same reason as reap()'s `fds`.
    std::unique_lock lock(s.mutex);
    if (!s.reaper.joinable()) {
      s.reaper = std::thread([&s] { s.reap(); });
      s.changed.wait(lock, [&s] { return s.running; });
    }
  }
  // Before fork(): the child may serve (and a drain begin) before fork()
  // returns here, and this process must not shut the connection down then.
  if (request.entry) request.entry->set->forget_fd(*request.entry);
  std::fflush(nullptr);  // or the child would write the parent's buffered output again
  pid_t pid = 0;
  {
    // Held across fork(), so that the child's copy of `children` is whole: it
    // closes its siblings' pidfds (not its to hold) and the reaper's eventfd.
    std::lock_guard lock(s.mutex);
    pid = ::fork();
    if (pid == 0) {
      for (auto& c : s.children) c.pidfd.close();
      s.wake.close();
    }
  }
  if (pid < 0) throw_errno("fork");
  if (pid == 0) {
    if (request.entry) request.entry->boundary = &s.in_child;
    return 0;
  }
  Socket pidfd(pidfd_open(pid));  // works on a child that already exited, until it is reaped
  if (!pidfd) {
    const int err = errno;
    ::kill(pid, SIGKILL);  // still our unreaped child: the pid cannot have been reused
    ::waitpid(pid, nullptr, 0);
    throw_errno(err, "pidfd_open");
  }
  // The child serves it; a shutdown() here would cut the child's connection.
  // It counts as open until the child exits.
  request.connection.close();
  {
    std::lock_guard lock(s.mutex);
    s.children.push_back({pid, std::move(pidfd), std::move(request.entry)});
  }
  s.wake_reaper();
  return pid;
}

std::size_t ChildProcesses::active() const {
  std::lock_guard lock(state_->mutex);
  return state_->children.size();
}

bool ChildProcesses::admit(Overload overload, const std::function<bool()>& stopping) {
  return state_->places.acquire(overload, stopping);
}

void ChildProcesses::release() { state_->places.release(); }

void ChildProcesses::drain_all() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(state_->drain.fd(), &one, sizeof one);
}

int ChildProcesses::drain_fd() const { return state_->drain.fd(); }

void ChildProcesses::interrupt() { state_->places.interrupt(); }

void ChildProcesses::close(std::chrono::steady_clock::time_point deadline) {
  State& s = *state_;
  // Idle children ended at the drain (on_drain()); a retired server's serve on.
  std::unique_lock lock(s.mutex);
  if (!s.reaper.joinable()) return;
  if (!s.changed.wait_until(lock, deadline, [&] { return s.children.empty(); })) {
    for (auto& c : s.children) {
      if (pidfd_send_signal(c.pidfd.fd(), SIGKILL) == 0 && c.connection && s.counters)
        Counters::bump(s.counters->cut);
    }
    s.changed.wait(lock, [&] { return s.children.empty(); });
  }
  s.stopping = true;
  lock.unlock();
  s.wake_reaper();
  s.reaper.join();
}

}  // namespace switchboard::detail
