#include "support/process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <system_error>

extern char** environ;

namespace switchboard::test {
namespace {

[[noreturn]] void fail(const char* what, int err = errno) {
  throw std::system_error(err, std::generic_category(), what);
}

// Close-on-exec pipes, so that a second child never inherits the first one's ends.
void make_pipe(UniqueFd& read_end, UniqueFd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) fail("pipe2");
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
}

// A pseudo-terminal: `terminal` for the child's stdin, `typing` to write to
// it. Echo off, since nobody reads what the terminal would echo back.
void make_terminal(UniqueFd& terminal, UniqueFd& typing) {
  typing.reset(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!typing) fail("open /dev/ptmx");
  char name[64];
  if (::grantpt(typing.get()) < 0 || ::unlockpt(typing.get()) < 0) fail("unlockpt");
  if (const int err = ::ptsname_r(typing.get(), name, sizeof name); err != 0)
    fail("ptsname_r", err);
  terminal.reset(::open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!terminal) fail("open pseudo-terminal");
  termios mode{};
  if (::tcgetattr(terminal.get(), &mode) < 0) fail("tcgetattr");
  mode.c_lflag &= ~static_cast<tcflag_t>(ECHO | ECHONL);
  if (::tcsetattr(terminal.get(), TCSANOW, &mode) < 0) fail("tcsetattr");
}

ExitStatus decode(int raw) {
  if (WIFSIGNALED(raw)) return {-1, WTERMSIG(raw)};
  return {WEXITSTATUS(raw), 0};
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const ExitStatus& status) {
  if (status.signal != 0) return os << "killed by signal " << status.signal;
  return os << "exit status " << status.code;
}

ChildProcess ChildProcess::spawn(const std::string& program, const std::vector<std::string>& args,
                                 const SpawnOptions& options) {
  // A child that closes its stdin must fail our write with EPIPE, not kill the test.
  static std::once_flag ignore_sigpipe;
  std::call_once(ignore_sigpipe, [] { ::signal(SIGPIPE, SIG_IGN); });

  ChildProcess child;
  UniqueFd in_read, out_write, err_write;
  if (options.stdin_terminal) {
    make_terminal(in_read, child.stdin_);
  } else {
    make_pipe(in_read, child.stdin_);
  }
  make_pipe(child.stdout_, out_write);
  if (options.stderr_path.empty()) make_pipe(child.stderr_, err_write);
  child.stderr_path_ = options.stderr_path;

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_read.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
  if (options.stderr_path.empty()) {
    posix_spawn_file_actions_adddup2(&actions, err_write.get(), 2);
  } else {
    posix_spawn_file_actions_addopen(&actions, 2, options.stderr_path.c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
  }
  for (const auto& [here, there] : options.fds)
    posix_spawn_file_actions_adddup2(&actions, here, there);  // the same number: CLOEXEC cleared
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM}) sigaddset(&defaults, sig);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(program.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;  // ours, less the names options.env sets, then those
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const bool replaced = std::any_of(options.env.begin(), options.env.end(), [&](const auto& set) {
      return entry.substr(0, entry.find('=') + 1) == set.substr(0, set.find('=') + 1);
    });
    if (!replaced) envp.push_back(*e);
  }
  for (const auto& set : options.env) envp.push_back(const_cast<char*>(set.c_str()));
  envp.push_back(nullptr);
  const int err =
      ::posix_spawn(&child.pid_, program.c_str(), &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    child.pid_ = -1;
    fail(("posix_spawn " + program).c_str(), err);
  }
  // Not yet reaped, so the PID cannot have been recycled: the pidfd is this child's.
  child.pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, child.pid_, 0)));
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      pidfd_(std::move(other.pidfd_)),
      stdin_(std::move(other.stdin_)),
      stdout_(std::move(other.stdout_)),
      stderr_(std::move(other.stderr_)),
      out_(std::move(other.out_)),
      err_(std::move(other.err_)),
      stderr_path_(std::move(other.stderr_path_)),
      stderr_read_(other.stderr_read_),
      status_(std::move(other.status_)) {}

ChildProcess::~ChildProcess() {
  if (pid_ < 0 || status_) return;
  // The test failed or forgot it: kill this child only, by its PID, and reap it.
  ::kill(pid_, SIGKILL);
  int raw = 0;
  while (::waitpid(pid_, &raw, 0) < 0 && errno == EINTR) {
  }
}

void ChildProcess::write_stdin(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(stdin_.get(), data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write to child's stdin");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// One read into `buffer`, waiting until the deadline; false at end of file or timeout.
bool ChildProcess::fill(UniqueFd& fd, std::string& buffer, const Deadline& deadline) {
  if (!fd) return false;
  pollfd p{fd.get(), POLLIN, 0};
  int ready = 0;
  while ((ready = ::poll(&p, 1, deadline.poll_ms())) < 0 && errno == EINTR) {
  }
  if (ready <= 0) return false;
  char chunk[4096];
  ssize_t n = 0;
  while ((n = ::read(fd.get(), chunk, sizeof chunk)) < 0 && errno == EINTR) {
  }
  if (n <= 0) {
    fd.reset();
    return false;
  }
  buffer.append(chunk, static_cast<std::size_t>(n));
  return true;
}

std::optional<std::string> ChildProcess::read_until(std::string_view marker, Duration timeout) {
  return read_until(stdout_, out_, marker, timeout);
}

std::optional<std::string> ChildProcess::read_stderr_until(std::string_view marker,
                                                           Duration timeout) {
  return read_until(stderr_, err_, marker, timeout);
}

std::optional<std::string> ChildProcess::read_until(UniqueFd& fd, std::string& buffer,
                                                    std::string_view marker, Duration timeout) {
  const Deadline deadline(timeout);
  for (;;) {
    if (const auto at = buffer.find(marker); at != std::string::npos) {
      std::string head = buffer.substr(0, at + marker.size());
      buffer.erase(0, at + marker.size());
      return head;
    }
    if (!fill(fd, buffer, deadline)) return std::nullopt;
  }
}

std::optional<std::string> ChildProcess::read_line(Duration timeout) {
  auto line = read_until("\n", timeout);
  if (line) line->pop_back();
  return line;
}

std::string ChildProcess::drain_stdout() {
  const Deadline now(0ms);
  while (fill(stdout_, out_, now)) {
  }
  return std::exchange(out_, {});
}

std::string ChildProcess::drain_stderr() {
  if (!stderr_path_.empty()) {
    std::ifstream file(stderr_path_, std::ios::binary);
    file.seekg(static_cast<std::streamoff>(stderr_read_));
    std::string gained((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    stderr_read_ += gained.size();
    return gained;
  }
  const Deadline now(0ms);
  while (fill(stderr_, err_, now)) {
  }
  return std::exchange(err_, {});
}

void ChildProcess::send_signal(int sig) {
  if (pid_ > 0 && !status_) ::kill(pid_, sig);
}

std::optional<ExitStatus> ChildProcess::wait(Duration timeout) {
  if (status_ || pid_ < 0) return status_;
  const Deadline deadline(timeout);
  int raw = 0;
  if (pidfd_) {
    pollfd p{pidfd_.get(), POLLIN, 0};
    int ready = 0;
    while ((ready = ::poll(&p, 1, deadline.poll_ms())) < 0 && errno == EINTR) {
    }
    if (ready <= 0) return std::nullopt;
    while (::waitpid(pid_, &raw, 0) < 0) {
      if (errno != EINTR) fail("waitpid");
    }
  } else {
    // No pidfd (an old kernel): look every 10 ms, still bounded by the deadline.
    for (;;) {
      const pid_t r = ::waitpid(pid_, &raw, WNOHANG);
      if (r == pid_) break;
      if (r < 0 && errno != EINTR) fail("waitpid");
      if (deadline.expired()) return std::nullopt;
      ::poll(nullptr, 0, 10);
    }
  }
  status_ = decode(raw);
  pidfd_.reset();
  return status_;
}

std::optional<ExitStatus> ChildProcess::stop(int sig, Duration timeout) {
  send_signal(sig);
  return wait(timeout);
}

}  // namespace switchboard::test
