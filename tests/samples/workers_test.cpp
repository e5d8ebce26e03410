// --workers: a master holds the socket and forks the workers that serve on
// it. Under load from the load generator (a connection per request, and
// ping-pong on connections that stay open), reloads and binary upgrades lose
// nothing: no connect refused, no connection reset, no reply late or wrong,
// and every generation serves. A failed upgrade leaves the old master
// serving; a worker killed is replaced; the stop drains every worker.

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

const std::string kLoadgen = LOADGEN;  // "" when the benchmarks are not built

// The number after "key": in the load generator's JSON (its first: the totals).
std::optional<double> json_number(const std::string& json, const std::string& key) {
  const auto at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(json.c_str() + at + key.size() + 3, nullptr);
}

// The connections each generation's workers said they served as they exited.
std::map<int, std::uint64_t> served_by_generation(const std::string& stderr_text) {
  std::map<int, std::uint64_t> served;
  static const std::regex line(
      R"(master: worker \d+ \(generation (\d+)\) .* after (\d+) connections)");
  for (std::sregex_iterator it(stderr_text.begin(), stderr_text.end(), line), end; it != end; ++it)
    served[std::stoi((*it)[1])] += std::stoull((*it)[2]);
  return served;
}

// The PID a --pid-file names; 0 if none.
pid_t pid_in(const std::string& file) {
  std::ifstream in(file);
  pid_t pid = 0;
  in >> pid;
  return in ? pid : 0;
}

// A master that handed over leaves with status 0. Orphaned, it comes to the
// test (a subreaper), which reaps it by its PID; one whose parent, an older
// master, still runs is reaped there.
testing::AssertionResult leaves(pid_t pid, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) {
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return testing::AssertionSuccess();
      return testing::AssertionFailure() << "master " << pid << " ended with status " << status;
    }
    if (done < 0 && ::kill(pid, 0) < 0 && errno == ESRCH) return testing::AssertionSuccess();
    if (std::chrono::steady_clock::now() >= deadline)
      return testing::AssertionFailure() << "master " << pid << " is still running";
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // a bounded poll of its end
  }
}

// Polls `pred` every 10 ms until it holds (true) or `limit` passes (false).
template <class Pred>
bool wait_until_true(Pred pred, Duration limit = kTimeout) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // a bounded poll of /proc
  }
  return true;
}

// The processes whose parent is `parent` (a master's workers), from /proc.
std::vector<pid_t> children_of(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string pid, comm, state;
    pid_t ppid = 0;
    if (stat >> pid >> comm >> state >> ppid && ppid == parent && state != "Z")
      children.push_back(std::stoi(pid));
  }
  return children;
}

class Workers : public testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  std::vector<std::string> args(const TempDir& dir) const {
    auto a = server_args(proto, policy, dir);
    a.insert(a.end(), {"--workers", "2", "--drain-timeout", "60"});
    return a;
  }
  // The load generator against `l`, bounded: `seconds` of load, replies late after 10 s.
  ChildProcess load(const Listening& l, const std::string& mode, int seconds) const {
    std::vector<std::string> a{"--proto",   proto, "--mode",     mode,
                               "--conns",   "4",   "--threads",  "1",
                               "--warmup",  "0",   "--duration", std::to_string(seconds),
                               "--timeout", "10",  "--json"};
    if (is_unix(proto)) {
      a.insert(a.end(), {"--path", l.path});
    } else {
      a.insert(a.end(), {"--host", l.host, "--port", std::to_string(l.port)});
    }
    return ChildProcess::spawn(kLoadgen, a);
  }
  // Waits for the load generator and checks that nothing failed.
  static void expect_nothing_lost(ChildProcess& loadgen, const std::string& mode) {
    const auto status = loadgen.wait(std::chrono::seconds(120));
    ASSERT_TRUE(status) << mode << ": the load generator did not end";
    const std::string json = loadgen.drain_stdout();
    ASSERT_TRUE(status->exited(0)) << mode << ": " << *status << " " << loadgen.drain_stderr();
    for (const char* key :
         {"errors", "mismatches", "timeouts", "refused", "resets", "other_errors"})
      EXPECT_EQ(json_number(json, key), 0.0) << mode << ": " << key << " in " << json;
    EXPECT_GT(json_number(json, "requests").value_or(0), 0.0) << mode << ": " << json;
  }

  const std::string proto = std::get<0>(GetParam());
  const std::string policy = std::get<1>(GetParam());
};

// Twenty reloads, each once the generation before is ready, under both loads.
TEST_P(Workers, ReloadsUnderLoadLoseNothing) {
  if (kLoadgen.empty()) GTEST_SKIP() << "the load generator is not built";
  TempDir dir;
  ServerProcess s = start_server(kEchoServer, args(dir));
  constexpr int kReloads = 20;
  // The load outlasts the reloads: one every quarter second, each once the
  // one before is ready, so that every generation has load to serve.
  constexpr auto kEvery = std::chrono::milliseconds(250);
  ChildProcess connects = load(s.listening, "connect", 8);
  ChildProcess pingpong = load(s.listening, "pingpong", 8);
  std::string said;  // the master's stderr, as it is read
  for (int generation = 2; generation <= kReloads + 1; ++generation) {
    std::this_thread::sleep_for(kEvery);  // the load's schedule, not a wait for an event
    s.process.send_signal(SIGHUP);
    const std::string ready = "master: reload: generation " + std::to_string(generation) + " ready";
    const auto text = s.process.read_stderr_until(ready, std::chrono::seconds(60));
    ASSERT_TRUE(text) << ready << " did not come; stderr: " << said << s.process.drain_stderr();
    said += *text;
  }
  expect_nothing_lost(connects, "connect");
  expect_nothing_lost(pingpong, "pingpong");
  expect_clean_stop(s.process);
  said += s.process.drain_stderr();
  const auto served = served_by_generation(said);
  for (int generation = 1; generation <= kReloads + 1; ++generation) {
    EXPECT_TRUE(served.contains(generation) && served.at(generation) > 0)
        << "generation " << generation << " served nothing; stderr: " << said;
  }
  EXPECT_EQ(said.find("reload failed"), std::string::npos) << said;
}

// Three binary upgrades under load: each new master takes the socket by
// socket activation's protocol, and the old one retires once it is ready.
TEST_P(Workers, UpgradesUnderLoadLoseNothing) {
  if (kLoadgen.empty()) GTEST_SKIP() << "the load generator is not built";
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  TempDir dir;
  const std::string pid_file = dir.file("master.pid");
  auto a = args(dir);
  a.insert(a.end(), {"--pid-file", pid_file});
  ServerProcess s = start_server(kEchoServer, a);
  ChildProcess connects = load(s.listening, "connect", 4);
  ChildProcess pingpong = load(s.listening, "pingpong", 4);
  std::vector<pid_t> masters{s.process.pid()};
  std::string said;
  for (int upgrade = 1; upgrade <= 3; ++upgrade) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the load's schedule
    ASSERT_EQ(pid_in(pid_file), masters.back());
    ASSERT_EQ(::kill(masters.back(), SIGUSR2), 0);  // the master this test started, or its heir
    const auto text = s.process.read_stderr_until("ready; this master's", std::chrono::seconds(60));
    ASSERT_TRUE(text) << "upgrade " << upgrade << ": " << said << s.process.drain_stderr();
    said += *text;
    masters.push_back(pid_in(pid_file));  // written by the new master before it said ready
    ASSERT_NE(masters.back(), masters[masters.size() - 2]);
  }
  expect_nothing_lost(connects, "connect");
  expect_nothing_lost(pingpong, "pingpong");
  // Each old master left once its workers had; the last one stops as one master does.
  const auto first = s.process.wait();
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->exited(0)) << *first;
  for (std::size_t i = 1; i + 1 < masters.size(); ++i)
    EXPECT_TRUE(leaves(masters[i], std::chrono::seconds(30)));
  ASSERT_EQ(::kill(masters.back(), SIGTERM), 0);
  EXPECT_TRUE(leaves(masters.back(), std::chrono::seconds(30)));
  EXPECT_FALSE(std::filesystem::exists(pid_file));
  EXPECT_EQ(said.find("upgrade failed"), std::string::npos) << said;
}

// An upgrade to an executable that fails at start-up: the old master serves
// on, under load, without a failed request; the next upgrade, to a working
// file at the same path, runs that file.
TEST(WorkersUpgrade, AFailedUpgradeLeavesTheOldMasterServing) {
  if (kLoadgen.empty()) GTEST_SKIP() << "the load generator is not built";
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  TempDir dir;
  const std::string server = dir.file("server");
  const auto install = [&](const std::string& from) {  // replaced as a deploy does: by rename
    std::filesystem::copy_file(from, server + ".new");
    std::filesystem::permissions(server + ".new", std::filesystem::perms::owner_all);
    std::filesystem::rename(server + ".new", server);
  };
  install(kEchoServer);
  const std::string pid_file = dir.file("master.pid");
  ServerProcess s = start_server(server, {"--port", "0", "--workers", "2", "--pid-file", pid_file});
  ChildProcess connects =
      ChildProcess::spawn(kLoadgen, {"--mode", "connect", "--conns", "4", "--threads", "1",
                                     "--warmup", "0", "--duration", "3", "--timeout", "10",
                                     "--json", "--port", std::to_string(s.listening.port)});
  {
    std::ofstream broken(dir.file("broken"));
    broken << "#!/bin/sh\necho 'broken build' >&2\nexit 1\n";
  }
  install(dir.file("broken"));
  s.process.send_signal(SIGUSR2);
  const auto failed =
      s.process.read_stderr_until("this master serves on", std::chrono::seconds(60));
  ASSERT_TRUE(failed) << s.process.drain_stderr();
  EXPECT_NE(failed->find("upgrade failed: master"), std::string::npos) << *failed;
  EXPECT_NE(failed->find("exited with status 1"), std::string::npos) << *failed;
  EXPECT_NE(failed->find("broken build"), std::string::npos) << "the new file did not run";
  const auto status = connects.wait(std::chrono::seconds(60));
  ASSERT_TRUE(status && status->exited(0));
  const std::string json = connects.drain_stdout();
  for (const char* key : {"errors", "refused", "resets", "timeouts"})
    EXPECT_EQ(json_number(json, key), 0.0) << key << " in " << json;
  EXPECT_EQ(pid_in(pid_file), s.process.pid());

  std::filesystem::remove(server);
  install(kEchoServer);
  s.process.send_signal(SIGUSR2);
  ASSERT_TRUE(s.process.read_stderr_until("ready; this master's", std::chrono::seconds(60)))
      << s.process.drain_stderr();
  const pid_t heir = pid_in(pid_file);
  ASSERT_NE(heir, s.process.pid());
  const auto first = s.process.wait();
  ASSERT_TRUE(first && first->exited(0));
  ASSERT_EQ(::kill(heir, SIGTERM), 0);  // the heir of the master this test started
  EXPECT_TRUE(leaves(heir, std::chrono::seconds(30)));
}

// A worker killed under load: only the connections it was serving are lost
// (at most the 4 of each load), no connect is refused, and the worker that
// takes its place serves.
TEST_P(Workers, AKilledWorkerIsReplaced) {
  if (kLoadgen.empty()) GTEST_SKIP() << "the load generator is not built";
  TempDir dir;
  ServerProcess s = start_server(kEchoServer, args(dir));
  const std::vector<pid_t> workers = children_of(s.process.pid());
  ASSERT_EQ(workers.size(), 2u);
  ChildProcess connects = load(s.listening, "connect", 3);
  ChildProcess pingpong = load(s.listening, "pingpong", 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the load's schedule
  ASSERT_EQ(::kill(workers.front(), SIGKILL), 0);  // the master's child, alive: its PID
  const auto replaced = s.process.read_stderr_until("another starts in", std::chrono::seconds(30));
  ASSERT_TRUE(replaced) << s.process.drain_stderr();
  EXPECT_NE(replaced->find("killed by signal 9"), std::string::npos) << *replaced;
  for (ChildProcess* loadgen : {&connects, &pingpong}) {
    const auto status = loadgen->wait(std::chrono::seconds(60));
    ASSERT_TRUE(status) << "the load generator did not end";
    const std::string json = loadgen->drain_stdout();
    EXPECT_EQ(json_number(json, "refused"), 0.0) << json;
    EXPECT_EQ(json_number(json, "mismatches"), 0.0) << json;
    EXPECT_LE(json_number(json, "errors").value_or(99), 4.0)
        << "more than its connections: " << json;
  }
  // The new worker serves: with the other first worker gone too, only
  // replacements are left to (whichever takes the shared queue under load
  // may be the old one).
  ASSERT_EQ(::kill(workers.back(), SIGKILL), 0);  // the master's child, alive: its PID
  ASSERT_TRUE(s.process.read_stderr_until("another starts in", std::chrono::seconds(30)));
  ASSERT_TRUE(wait_until_true([&] {
    const auto now = children_of(s.process.pid());
    return now.size() == 2 && std::find(now.begin(), now.end(), workers.back()) == now.end();
  }));
  for (int i = 0; i < 10; ++i) {
    Client c = connect_to(s.listening, dir);
    c.send_all("ping\n");
    EXPECT_EQ(c.recv_exactly(5), "ping\n");
  }
  expect_clean_stop(s.process);
}

// Workers that die young (within a second of their start, as a crash at
// start-up does) are restarted after delays that double: 0.1 s, 0.2 s, ...
TEST(WorkersSupervision, WorkersThatDieYoungAreRestartedAfterGrowingDelays) {
  ServerProcess s = start_server(kEchoServer, {"--port", "0", "--workers", "1"});
  std::vector<pid_t> killed;
  for (const char* delay : {"0.1 s", "0.2 s", "0.4 s", "0.8 s"}) {
    std::vector<pid_t> workers;
    ASSERT_TRUE(wait_until_true([&] {  // the next worker, once the master has started it
      workers = children_of(s.process.pid());
      return workers.size() == 1 &&
             std::find(killed.begin(), killed.end(), workers.front()) == killed.end();
    })) << s.process.drain_stderr();
    ASSERT_EQ(::kill(workers.front(), SIGKILL), 0);  // the master's child, alive: its PID
    killed.push_back(workers.front());
    const auto said = s.process.read_stderr_until(std::string("another starts in ") + delay);
    ASSERT_TRUE(said) << "expected a delay of " << delay << "; " << s.process.drain_stderr();
  }
  expect_clean_stop(s.process);
}

INSTANTIATE_TEST_SUITE_P(ByTransportAndPolicy, Workers,
                         testing::Combine(testing::Values("tcp", "unix"),
                                          testing::Values("threading", "reactor")),
                         [](const auto& p) {
                           return param_name(std::get<0>(p.param) + "_" + std::get<1>(p.param));
                         });

}  // namespace
}  // namespace switchboard::test

namespace switchboard::test {
namespace {

// --max-requests under load: workers are replaced as they reach it (each
// replacement ready before the worker it replaces retires), and nothing is lost.
TEST(WorkersRecycle, MaxRequestsReplacesWorkersUnderLoad) {
  if (kLoadgen.empty()) GTEST_SKIP() << "the load generator is not built";
  ServerProcess s = start_server(kEchoServer, {"--port", "0", "--workers", "2", "--max-requests",
                                               "200", "--drain-timeout", "60"});
  ChildProcess connects =
      ChildProcess::spawn(kLoadgen, {"--mode", "connect", "--conns", "4", "--threads", "1",
                                     "--warmup", "0", "--duration", "3", "--timeout", "10",
                                     "--json", "--port", std::to_string(s.listening.port)});
  const auto status = connects.wait(std::chrono::seconds(60));
  ASSERT_TRUE(status && status->exited(0));
  const std::string json = connects.drain_stdout();
  for (const char* key : {"errors", "refused", "resets", "timeouts", "mismatches"})
    EXPECT_EQ(json_number(json, key), 0.0) << key << " in " << json;
  expect_clean_stop(s.process);
  const std::string said = s.process.drain_stderr();
  EXPECT_NE(said.find("served its --max-requests"), std::string::npos) << said;
  // Those it replaced served at least their limit.
  static const std::regex exited(R"(exited with status 0 after (\d+) connections)");
  int recycled = 0;
  for (std::sregex_iterator it(said.begin(), said.end(), exited), end; it != end; ++it)
    recycled += std::stoull((*it)[1]) >= 200;
  EXPECT_GE(recycled, 1) << said;
}

// --stats-interval under a master: one line for all workers, their counters
// summed, those of workers that have exited (a reload's) included.
TEST(WorkersStats, TheMasterSumsTheWorkersCounters) {
  ServerProcess s =
      start_server(kEchoServer, {"--port", "0", "--workers", "2", "--stats-interval", "0.1"});
  TempDir dir;
  const auto exchange = [&](int n) {
    for (int i = 0; i < n; ++i) {
      Client c = connect_to(s.listening, dir);
      c.send_all("x\n");
      ASSERT_EQ(c.recv_line(), "x\n");
    }
  };
  exchange(6);
  ASSERT_TRUE(s.process.read_stderr_until("stats: workers=2 total=6 ")) << s.process.drain_stderr();
  s.process.send_signal(SIGHUP);  // the six were counted by workers that exit now
  ASSERT_TRUE(s.process.read_stderr_until("generation 2 ready"));
  exchange(4);
  ASSERT_TRUE(s.process.read_stderr_until("stats: workers=2 total=10 "))
      << s.process.drain_stderr();
  expect_clean_stop(s.process);
}

// Listening TCP sockets on loopback `port` (/proc/net/tcp: state 0A).
int listening_on(std::uint16_t port) {
  std::ifstream table("/proc/net/tcp");
  std::string line;
  std::getline(table, line);  // the header
  char wanted[16];
  std::snprintf(wanted, sizeof wanted, ":%04X", port);
  int n = 0;
  while (std::getline(table, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state;
    fields >> slot >> local >> remote >> state;
    n += local.ends_with(wanted) && state == "0A";
  }
  return n;
}

// --reuseport: a listening socket per worker, none in the master; they serve
// and reload. A Unix socket has no such option: refused with exit status 2.
TEST(WorkersReuseport, EachWorkerListensOnItsOwnSocket) {
  ServerProcess s = start_server(kEchoServer, {"--port", "0", "--workers", "2", "--reuseport"});
  EXPECT_EQ(listening_on(s.listening.port), 2);
  TempDir dir;
  const auto exchange = [&] {
    for (int i = 0; i < 10; ++i) {
      Client c = connect_to(s.listening, dir);
      c.send_all("x\n");
      ASSERT_EQ(c.recv_line(), "x\n");
    }
  };
  exchange();
  s.process.send_signal(SIGHUP);
  ASSERT_TRUE(s.process.read_stderr_until("generation 2 ready"));
  // Until the old workers have closed their sockets, the kernel may give
  // them a connect they will not serve: --reuseport's documented loss.
  for (int i = 0; i < 2; ++i)
    ASSERT_TRUE(s.process.read_stderr_until("(generation 1) exited")) << s.process.drain_stderr();
  EXPECT_EQ(listening_on(s.listening.port), 2);
  exchange();
  expect_clean_stop(s.process);

  ChildProcess unix_server = ChildProcess::spawn(
      kEchoServer,
      {"--proto", "unix", "--path", dir.file("s.sock"), "--workers", "2", "--reuseport"});
  const auto status = unix_server.wait();
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->exited(2)) << *status;
  EXPECT_NE(unix_server.drain_stderr().find("--reuseport binds a socket in each worker"),
            std::string::npos);
}

// --drain-delay: after SIGTERM the server serves on (new connects included)
// for the delay, then drains and exits 0; one process or a master's workers.
class DrainDelay : public testing::TestWithParam<std::string> {};

TEST_P(DrainDelay, ServesOnThenDrains) {
  ServerProcess s =
      start_server(kEchoServer, {"--port", "0", "--workers", GetParam(), "--drain-delay", "5"});
  s.process.send_signal(SIGTERM);
  const auto said = s.process.read_stderr_until("(--drain-delay)");
  ASSERT_TRUE(said) << s.process.drain_stderr();
  Client c = connect_to(s.listening, TempDir());
  c.send_all("still here\n");
  EXPECT_EQ(c.recv_line(), "still here\n") << "a connect in the delay was not served";
  const auto status = s.process.wait(std::chrono::seconds(30));
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->exited(0)) << *status;
}

INSTANTIATE_TEST_SUITE_P(Processes, DrainDelay, testing::Values("0", "2"),
                         [](const auto& p) { return "workers_" + p.param; });

}  // namespace
}  // namespace switchboard::test
