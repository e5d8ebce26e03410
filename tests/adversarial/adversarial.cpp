#include "adversarial.hpp"

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

namespace switchboard::test {
namespace {

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

bool soak() {
  static const bool on = env("SWITCHBOARD_SOAK") == "1";
  return on;
}

const std::string& sanitizer() {
  static const std::string name = env("SWITCHBOARD_SANITIZE");
  return name;
}

Duration bound(Duration normal) {
  // ASan about doubles the cost of a syscall-heavy server; TSan is much slower.
  if (sanitizer() == "thread") return normal * 10;
  if (sanitized()) return normal * 4;
  return normal;
}

std::size_t fd_limit() {
  static const std::size_t limit = raise_fd_limit();
  return limit;
}

Figures::~Figures() {
  const auto* info = testing::UnitTest::GetInstance()->current_test_info();
  std::ostringstream line;
  line << "figures: " << (info ? std::string(info->test_suite_name()) + "." + info->name() : "?");
  for (const auto& [key, value] : entries_) {
    line << ' ' << key << '=' << value;
    if (info) testing::Test::RecordProperty(key, value);
  }
  std::printf("%s\n", line.str().c_str());
  std::fflush(stdout);
}

bool eventually(const std::function<bool()>& condition, Duration timeout) {
  const Deadline deadline(timeout);
  for (;;) {
    if (condition()) return true;
    if (deadline.expired()) return false;
    ::poll(nullptr, 0, std::min(10, deadline.poll_ms()));
  }
}

double ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

Server::~Server() {
  if (!log.following()) return;
  if (!process.process.reaped()) {
    // The test ended early. ChildProcess kills the server; kill its forked
    // children first, or they would outlive it. Stopped, the server cannot
    // reap them, so their PIDs stay theirs.
    ::kill(pid(), SIGSTOP);
    for (const pid_t child : child_pids(pid())) ::kill(child, SIGKILL);
  }
  const std::string& text = log.text();
  for (const char* marker : {"Sanitizer", "runtime error:"}) {
    if (text.find(marker) != std::string::npos) {
      ADD_FAILURE() << "sanitizer report from the server: " << text;
      return;
    }
  }
}

void Server::expect_clean_stop(Duration timeout) {
  const auto status = process.process.stop(SIGTERM, bound(timeout));
  ASSERT_TRUE(status) << "still running " << bound(timeout).count() << " ms after SIGTERM";
  EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << log.text();
}

Server start(const std::string& program, const std::string& proto, const PolicyCase& policy,
             const TempDir& dir, const std::vector<std::string>& extra, const std::string& name) {
  std::vector<std::string> args{"--proto", proto, "--policy", policy.name};
  const auto given = [&](const char* flag) {
    return std::find(extra.begin(), extra.end(), flag) != extra.end();
  };
  if (proto.starts_with("unix")) {
    if (!given("--path")) args.insert(args.end(), {"--path", dir.file(name + ".sock")});
  } else if (!given("--port")) {
    args.insert(args.end(), {"--port", "0"});
  }
  args.insert(args.end(), extra.begin(), extra.end());
  const std::string log = dir.file(name + ".log");
  SpawnOptions options;
  options.stderr_path = log;
  return Server{start_server(program, args, options, bound(kTimeout)), ServerLog(log)};
}

std::string transport_policy_name(const testing::TestParamInfo<TransportPolicy>& info) {
  std::string name = std::get<0>(info.param) + "_" + std::get<1>(info.param).name;
  for (char& c : name)
    if (c == '-') c = '_';
  return name;
}

Client client_of(const Listening& l, const TempDir& dir, const std::string& name) {
  if (l.scheme == "tcp") return Client::tcp(l.host, l.port);
  if (l.scheme == "udp") return Client::udp(l.host, l.port);
  if (l.scheme == "unix") return Client::unix_stream(l.path);
  return Client::unix_datagram(l.path, dir.file(name));
}

std::string echo_check(const Listening& l, const TempDir& dir, Duration timeout) {
  try {
    if (l.scheme == "udp" || l.scheme == "unix-dgram") {
      static std::atomic<int> calls{0};  // a fresh client path each time: old ones stay bound
      Client c = client_of(l, dir, "echo-check-" + std::to_string(++calls) + ".sock");
      c.send_all("are you there?");
      const std::string reply = c.recv_datagram(timeout);
      return reply == "are you there?" ? "" : "wrong reply '" + reply + "'";
    }
    Client c = l.scheme == "tcp" ? Client::tcp(l.host, l.port, timeout) : client_of(l, dir);
    c.send_all("are you there?\n");
    const std::string reply = c.recv_line(timeout);
    if (reply != "are you there?\n")
      return "wrong reply '" + reply + "'" + (c.was_reset() ? " (reset)" : "");
    c.shutdown_write();
    const std::string rest = c.recv_until_eof(timeout);
    return rest.empty() ? "" : "unexpected '" + rest + "' after the reply";
  } catch (const std::exception& e) {
    return e.what();
  }
}

double ms_until_refused(const Listening& l, Duration timeout, Crowd* crowd) {
  const auto began = Clock::now();
  const Deadline deadline(timeout);
  while (!deadline.expired()) {
    // A short connect timeout: a probe whose SYN meets a TIME_WAIT of the same
    // ports waits a second for its retransmission, and a fresh probe need not.
    try {
      Client probe = l.scheme == "unix" ? Client::unix_stream(l.path, 100ms)
                                        : Client::tcp(l.host, l.port, 100ms);
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::connection_refused ||
          e.code() == std::errc::no_such_file_or_directory)
        return ms_between(began, Clock::now());
    }
    if (crowd) {
      crowd->drive_for(2ms);
    } else {
      ::poll(nullptr, 0, 2);  // a breath between probes; the deadline bounds the loop
    }
  }
  return -1;
}

}  // namespace switchboard::test
