#include "handover.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

namespace switchboard::cli {
namespace {

constexpr int kHandedListener = 3;  // socket activation's first descriptor
constexpr int kHandedPipe = 4;

// `fd` at `at`, kept across exec.
void place(int fd, int at) {
  if (fd == at) {
    ::fcntl(fd, F_SETFD, 0);
  } else if (::dup2(fd, at) < 0) {
    std::_Exit(127);
  }
}

}  // namespace

void exec_with_listener(int listener, int report_fd, const std::string& executable,
                        const std::vector<std::string>& argv) {
  // Each to its place, never over the other: the pipe first out of the way.
  if (report_fd == kHandedListener) report_fd = ::fcntl(report_fd, F_DUPFD_CLOEXEC, 5);
  place(listener, kHandedListener);
  place(report_fd, kHandedPipe);
  ::setenv("LISTEN_FDS", "1", 1);
  ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
  ::setenv("LISTEN_FDNAMES", "listener", 1);
  ::setenv(kUpgradeFdVariable, std::to_string(kHandedPipe).c_str(), 1);
  // The new master blocks what it takes itself; the rest come as they would.
  sigset_t none;
  sigemptyset(&none);
  ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execv(executable.c_str(), args.data());
  std::cerr << "master: upgrade: cannot run " + executable + ": " + std::strerror(errno) + "\n"
            << std::flush;
  std::_Exit(127);
}

int upgrade_pipe() {
  const char* value = std::getenv(kUpgradeFdVariable);
  if (value == nullptr) return -1;
  const int fd = std::atoi(value);
  ::unsetenv(kUpgradeFdVariable);
  if (fd < 3 || ::fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) return -1;
  return fd;
}

}  // namespace switchboard::cli
