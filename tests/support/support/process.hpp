#pragma once
// A child process with its stdin, stdout and stderr on pipes, for black-box
// tests of the executables. Every wait is bounded; a child still running when
// its ChildProcess goes away is killed (by its PID, never by name) and reaped.

#include <sys/types.h>

#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/deadline.hpp"
#include "support/fd.hpp"

namespace switchboard::test {

/// How a child ended: an exit status, or the signal that killed it.
struct ExitStatus {
  int code = -1;   ///< exit status when it exited, -1 when killed
  int signal = 0;  ///< the signal that killed it, 0 when it exited

  bool exited(int status) const { return signal == 0 && code == status; }
};
std::ostream& operator<<(std::ostream& os, const ExitStatus& status);

/// How to start a child beyond its arguments.
struct SpawnOptions {
  /// Non-empty: the child's stderr is appended to this file instead of a pipe,
  /// so that a child that logs a lot never blocks on a pipe nobody reads.
  std::string stderr_path;
  /// The child's stdin is a terminal (a pseudo-terminal, echo off) rather
  /// than a pipe: what a person typing gives it. write_stdin() types a line
  /// at a time; "\x04" (Ctrl-D) at the start of a line is the end of input.
  bool stdin_terminal = false;
  /// Descriptors the child inherits: {descriptor here, its number in the
  /// child} (3 or more; close-on-exec here is fine, it is dup2()ed).
  std::vector<std::pair<int, int>> fds;
  /// "NAME=value" entries put in the child's environment (replacing NAME).
  std::vector<std::string> env;
};

class ChildProcess {
 public:
  /// Starts `program` with `args` (argv[1]...), SIGINT/SIGTERM/SIGPIPE at
  /// their defaults. Throws std::system_error.
  static ChildProcess spawn(const std::string& program, const std::vector<std::string>& args,
                            const SpawnOptions& options = {});

  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  /// Writes to the child's stdin. Throws std::system_error (EPIPE once it closed stdin).
  void write_stdin(std::string_view data);
  void close_stdin() { stdin_.reset(); }

  /// The next line of stdout without its '\n'; nullopt if none came in time or stdout ended.
  std::optional<std::string> read_line(Duration timeout = kTimeout);
  /// stdout up to and including the first `marker`; nullopt if it did not come in time.
  std::optional<std::string> read_until(std::string_view marker, Duration timeout = kTimeout);
  /// stderr up to and including the first `marker`; nullopt if it did not come in time.
  std::optional<std::string> read_stderr_until(std::string_view marker,
                                               Duration timeout = kTimeout);
  /// What stdout / stderr hold now, without waiting (after wait(), all the child wrote).
  /// With SpawnOptions::stderr_path, drain_stderr() reads what the file gained since.
  std::string drain_stdout();
  std::string drain_stderr();

  /// Sends `sig` to the child, unless it has already been reaped.
  void send_signal(int sig);
  /// Waits for the child to end and reaps it; nullopt if it is still running at the deadline.
  std::optional<ExitStatus> wait(Duration timeout = kTimeout);
  /// Sends `sig`, then wait().
  std::optional<ExitStatus> stop(int sig, Duration timeout = kTimeout);
  bool reaped() const { return status_.has_value(); }

 private:
  ChildProcess() = default;
  bool fill(UniqueFd& fd, std::string& buffer, const Deadline& deadline);
  std::optional<std::string> read_until(UniqueFd& fd, std::string& buffer, std::string_view marker,
                                        Duration timeout);

  pid_t pid_ = -1;
  UniqueFd pidfd_;  // readable once the child exits: a wait without polling
  UniqueFd stdin_, stdout_, stderr_;
  std::string out_, err_;
  std::string stderr_path_;
  std::size_t stderr_read_ = 0;  // bytes of stderr_path_ drain_stderr() returned
  std::optional<ExitStatus> status_;
};

}  // namespace switchboard::test
