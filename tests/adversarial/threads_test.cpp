// The flags that size a server mean the same under every policy (the
// README's flags table): --threads is the number of threads that run
// blocking handlers (pool workers, the reactor's workers, threading's cap),
// --loops the reactor's event loops, --max-children caps forking, and
// --max-queued with --overload bounds the reactor's blocking handlers as it
// bounds the pool's.
// Threads are counted in /proc/PID/status, against the same server under the
// serial policy (main thread, signal watcher, drain watchdog, stats printer).

#include <signal.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

const PolicyCase& policy_named(const std::string& name) {
  for (const PolicyCase& p : kPolicies)
    if (p.name == name) return p;
  throw std::invalid_argument("no policy " + name);
}

// The threads `program` runs with `flags` and no policy threads (serial).
std::size_t base_threads(const std::string& program, const std::string& transport,
                         const TempDir& dir, const std::vector<std::string>& flags) {
  Server base = start(program, transport, policy_named("serial"), dir, flags, "base");
  const std::size_t n = thread_count(base.pid());
  base.expect_clean_stop();
  return n;
}

// `n` clients, each served a line and then holding its handler (HANG, until it closes).
void hold(Crowd& crowd, std::size_t n) {
  const std::size_t first = crowd.connect(n);
  for (std::size_t i = first; i < first + n; ++i)
    crowd.send(i, "held " + std::to_string(i) + "\nHANG\n");
}

std::size_t answered(const Crowd& crowd) {
  return crowd.count([](const Peer& p) { return !p.received.empty(); });
}

// --- threading's --threads and forking's --max-children cap them -------------------------

struct CapCase {
  std::string transport;
  std::string policy;  // threading (--threads) or forking (--max-children)
  std::string overload;
};

class ConcurrencyCap : public testing::TestWithParam<CapCase> {};

// Two handlers hold both threads (children); a third client waits in the
// backlog (block) or is refused at once and counted (refuse). When one ends,
// the waiting one is served.
TEST_P(ConcurrencyCap, TwoAtOnceAndNoMore) {
  const CapCase& c = GetParam();
  const bool forking = c.policy == "forking";
  TempDir dir;
  Server server = start(kFaultServer, c.transport, policy_named(c.policy), dir,
                        {forking ? "--max-children" : "--threads", "2", "--overload", c.overload,
                         "--stats-interval", "0.05"});
  Crowd crowd(server.at());
  hold(crowd, 2);
  ASSERT_TRUE(crowd.drive_until([&] { return answered(crowd) == 2; }, bound(kTimeout)))
      << crowd.summary();
  const std::size_t third = crowd.connect(1);
  crowd.send(third, "third\n");
  if (c.overload == "refuse") {
    ASSERT_TRUE(crowd.drive_until([&] { return crowd[third].ended(); }, bound(2s)))
        << "the third client was neither served nor refused: " << crowd.summary();
    EXPECT_EQ(crowd[third].received, "") << "served past the cap of 2";
    EXPECT_TRUE(server.log.wait_for_stats([](const StatsLine& s) { return s["refused"] == 1; },
                                          bound(kTimeout)))
        << server.log.text();
  } else {
    ASSERT_TRUE(crowd.wait_connected()) << "the kernel backlog did not take the connection";
    crowd.drive_for(300ms);  // a window in which the server must not serve it
    EXPECT_EQ(crowd[third].received, "") << "served past the cap of 2";
    EXPECT_FALSE(crowd[third].ended()) << "closed instead of waiting";
    const auto stats = server.log.wait_for_stats([](const StatsLine&) { return true; });
    ASSERT_TRUE(stats) << server.log.text();
    EXPECT_EQ((*stats)[forking ? "processes" : "threads"], 2u) << stats->text();
    EXPECT_EQ((*stats)["refused"], 0u);
    crowd.close(0);  // its handler ends: a thread (child) frees
    EXPECT_TRUE(
        crowd.drive_until([&] { return crowd[third].received == "third\n"; }, bound(kTimeout)))
        << "the waiting client was not served once one ended: " << crowd.summary();
  }
  for (std::size_t i = 0; i < crowd.size(); ++i) crowd.close(i);  // HANG ends with its client
  server.expect_clean_stop();
}

std::vector<CapCase> cap_cases() {
  std::vector<CapCase> cases;
  for (const std::string& transport : kStreamTransports)
    for (const char* policy : {"threading", "forking"})
      for (const char* overload : {"block", "refuse"})
        cases.push_back({transport, policy, overload});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Adversarial, ConcurrencyCap, testing::ValuesIn(cap_cases()),
                         [](const auto& p) {
                           return p.param.transport + "_" + p.param.policy + "_" + p.param.overload;
                         });

// --- the threads each policy runs ---------------------------------------------------------

struct ThreadsCase {
  std::string name;
  std::string program;
  std::string policy;
  std::vector<std::string> flags;
  std::size_t at_start;  // policy threads before any client, at most
  std::size_t clients;   // each holding a handler (fault_server) or served (echo_server)
  std::size_t answered;  // those being served: the others wait for a thread
  std::size_t serving;   // policy threads meanwhile
};

void PrintTo(const ThreadsCase& c, std::ostream* os) { *os << c.name; }

class PolicyThreads : public testing::TestWithParam<ThreadsCase> {};

TEST_P(PolicyThreads, RunsTheThreadsTheFlagsSay) {
  const ThreadsCase& c = GetParam();
  TempDir dir;
  std::vector<std::string> flags = c.flags;
  flags.insert(flags.end(), {"--stats-interval", "0.05", "--drain-timeout", "0.5"});
  const std::size_t base = base_threads(c.program, "tcp", dir, flags);
  Server server = start(c.program, "tcp", policy_named(c.policy), dir, flags);
  // Workers may start on first use: before any client, at most these.
  EXPECT_LE(thread_count(server.pid()), base + c.at_start)
      << "threads at start, expected at most " << base << " + " << c.at_start;

  Crowd crowd(server.at());
  if (c.program == kFaultServer) {
    hold(crowd, c.clients);
  } else {
    crowd.connect(c.clients);
    for (std::size_t i = 0; i < c.clients; ++i) crowd.send(i, "held " + std::to_string(i) + "\n");
  }
  ASSERT_TRUE(crowd.drive_until([&] { return answered(crowd) >= c.answered; }, bound(kTimeout)))
      << crowd.summary();
  EXPECT_TRUE(eventually([&] { return thread_count(server.pid()) == base + c.serving; }))
      << thread_count(server.pid()) << " threads serving, expected " << base << " + " << c.serving;
  crowd.drive_for(100ms);  // a moment in which no more threads may start, nor clients be served
  EXPECT_EQ(thread_count(server.pid()), base + c.serving);
  EXPECT_EQ(answered(crowd), c.answered) << crowd.summary();
  const auto stats = server.log.wait_for_stats([](const StatsLine&) { return true; });
  ASSERT_TRUE(stats) << server.log.text();
  EXPECT_EQ((*stats)["threads"], c.serving) << stats->text();
  Figures().add("base_threads", base).add("policy_threads", c.serving);
  for (std::size_t i = 0; i < crowd.size(); ++i) crowd.close(i);
  server.expect_clean_stop();
}

INSTANTIATE_TEST_SUITE_P(
    Adversarial, PolicyThreads,
    testing::Values(
        // Four clients for three workers: one waits in the queue, no fourth thread.
        ThreadsCase{"pool_threads_3", kFaultServer, "pool", {"--threads", "3"}, 3, 4, 3, 3},
        ThreadsCase{
            "threading_threads_3", kFaultServer, "threading", {"--threads", "3"}, 0, 4, 3, 3},
        // Blocking handlers: the loops, and the workers once used.
        ThreadsCase{"reactor_fault_loops_2_threads_3",
                    kFaultServer,
                    "reactor",
                    {"--loops", "2", "--threads", "3"},
                    2,
                    4,
                    3,
                    5},
        // Coroutine handlers: the loops alone, whatever --threads says.
        ThreadsCase{"reactor_echo_loops_2",
                    kEchoServer,
                    "reactor",
                    {"--loops", "2", "--threads", "3"},
                    2,
                    4,
                    4,
                    2}),
    [](const auto& p) { return p.param.name; });

// --- the reactor bounds blocking handlers as the pool does --------------------------------

class ReactorAdmission : public testing::TestWithParam<std::string> {};

// Four workers and eight places in the queue: twelve clients are served or
// wait; the other 28 are refused at once and counted, and the process runs
// its loops and workers and nothing more.
TEST_P(ReactorAdmission, BlockingHandlersAreBoundedByThreadsAndMaxQueued) {
  constexpr std::size_t kClients = 40, kWorkers = 4, kQueued = 8, kLoops = 2;
  TempDir dir;
  const std::vector<std::string> flags = {"--threads",        std::to_string(kWorkers),
                                          "--max-queued",     std::to_string(kQueued),
                                          "--loops",          std::to_string(kLoops),
                                          "--overload",       "refuse",
                                          "--stats-interval", "0.05",
                                          "--drain-timeout",  "0.5"};
  const std::size_t base = base_threads(kFaultServer, GetParam(), dir, flags);
  Server server = start(kFaultServer, GetParam(), policy_named("reactor"), dir, flags);
  Crowd crowd(server.at());
  crowd.connect(kClients);
  for (std::size_t i = 0; i < kClients; ++i) crowd.send(i, "HANG\n");
  const auto settled = server.log.wait_for_stats(
      [&](const StatsLine& s) { return s["total"] >= kClients; }, bound(kTimeout));
  ASSERT_TRUE(settled) << "the server never took all " << kClients
                       << " connections: " << server.log.text();
  const std::uint64_t refused = (*settled)["refused"];
  ASSERT_TRUE(
      crowd.drive_until([&] { return crowd.count(&Peer::ended) >= refused; }, bound(kTimeout)))
      << "the server counted " << refused << " refusals; clients saw: " << crowd.summary();
  const std::size_t held = crowd.count([](const Peer& p) { return !p.ended(); });
  EXPECT_EQ(held, kWorkers + kQueued) << crowd.summary();
  EXPECT_EQ(refused, kClients - kWorkers - kQueued) << settled->text();
  EXPECT_EQ(crowd.count([](const Peer& p) { return p.ended() && !p.received.empty(); }), 0u)
      << "a refused client got bytes";
  EXPECT_LE((*settled)["connections"], kWorkers + kQueued) << settled->text();
  const std::size_t threads = thread_count(server.pid());
  EXPECT_LE(threads, base + kLoops + kWorkers) << "loops and workers, and nothing more";

  const auto signalled = Clock::now();
  server.process.process.send_signal(SIGTERM);
  const auto status = server.process.process.wait(bound(kTimeout));
  ASSERT_TRUE(status) << "still running after the drain deadline";
  EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << server.log.text();
  Figures()
      .add("clients", kClients)
      .add("held", held)
      .add("refused", refused)
      .add("threads", threads)
      .add("base_threads", base)
      .add("exit_ms", ms_between(signalled, Clock::now()));
}

INSTANTIATE_TEST_SUITE_P(Adversarial, ReactorAdmission, testing::ValuesIn(kStreamTransports));

}  // namespace
}  // namespace switchboard::test
