// --workers: a master holds the socket and forks the workers that serve on
// it. Under load from the load generator (a connection per request, and
// ping-pong on connections that stay open), reloads lose nothing: no connect
// refused, no connection reset, no reply late or wrong, and every generation
// serves. A worker killed is replaced; the stop drains every worker.

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
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

class Workers : public testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  void SetUp() override {
    if (kLoadgen.empty()) GTEST_SKIP() << "the load generator is not built";
  }
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

// A worker killed under load: only its own connections are lost, and
// another takes its place and serves.
TEST_P(Workers, AKilledWorkerIsReplaced) {
  TempDir dir;
  ServerProcess s = start_server(kEchoServer, args(dir));
  // The workers are the master's children.
  std::vector<pid_t> workers;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string pid, comm, state;
    pid_t ppid = 0;
    if (stat >> pid >> comm >> state >> ppid && ppid == s.process.pid())
      workers.push_back(std::stoi(pid));
  }
  ASSERT_EQ(workers.size(), 2u);
  ASSERT_EQ(::kill(workers.front(), SIGKILL), 0);  // the master's child, alive: its PID
  const auto replaced = s.process.read_stderr_until("another starts in", std::chrono::seconds(30));
  ASSERT_TRUE(replaced) << s.process.drain_stderr();
  EXPECT_NE(replaced->find("killed by"), std::string::npos) << *replaced;
  // Served all the while: the other worker, then the new one too.
  for (int i = 0; i < 20; ++i) {
    Client c = connect_to(s.listening, dir);
    c.send_all("ping\n");
    EXPECT_EQ(c.recv_exactly(5), "ping\n");
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
