// Stopping under pressure: SIGTERM in the middle of a load (every request on
// an accepted connection answered exactly once, queued ones included; new
// connects refused within 200 ms; exit 0), SIGTERM with a thousand idle
// connections (exit within a second), and a second signal that forces the
// exit (status 128 + signal, never a crash).

#include <poll.h>
#include <signal.h>

#include <cstdlib>
#include <system_error>

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

class SigtermDuringLoad : public TransportPolicyTest {};

// Loaded clients each send a line, a 500 ms request and a line, then
// half-close; a few idle clients connect and send nothing. On SIGTERM the
// idle ones (queued or not) are closed at once, every loaded one the server
// accepted is answered in full, and new connects are refused.
TEST_P(SigtermDuringLoad, EveryAcceptedRequestIsAnsweredOnceAndNewConnectsAreRefused) {
  const PolicyCase& policy = this->policy();
  const std::size_t clients = sized(20, 200);
  const std::size_t idle = 5;
  Server server = start_with(kFaultServer, {"--threads", "8", "--max-queued", "1000",
                                            "--drain-timeout", "30", "--stats-interval", "0.05"});
  Crowd crowd(server.at());
  crowd.connect(clients);
  std::vector<std::string> sent;
  for (std::size_t i = 0; i < clients; ++i) {
    const std::string n = std::to_string(i);
    sent.push_back("first " + n + "\nSLEEP500\nlast " + n + "\n");
    crowd.send(i, sent.back(), true);
  }
  ASSERT_TRUE(crowd.drive_until([&] {
    return crowd.count([](const Peer& p) { return p.write_closed; }) == clients;
  })) << "could not send the requests: "
      << crowd.summary();
  const std::size_t first_idle = crowd.connect(idle);
  ASSERT_TRUE(crowd.wait_connected()) << crowd.summary();
  // Under load: requests in flight (and, for the pool, queued behind its workers).
  // Those the policy takes at once: one for serial, a child each up to its cap for forking.
  const std::size_t all = clients + idle;
  const std::size_t taken = !policy.concurrent           ? 1
                            : policy.process_per_request ? std::min<std::size_t>(all, 32)
                                                         : all;
  const auto loaded = server.log.wait_for_stats(
      [&](const StatsLine& s) { return s["total"] >= taken; }, bound(10s));
  ASSERT_TRUE(loaded) << server.log.text();
  const std::uint64_t accepted_before_signal = (*loaded)["total"];

  const auto signalled = Clock::now();
  server.process.process.send_signal(SIGTERM);
  const double refused_ms = ms_until_refused(server.at(), bound(5s), &crowd);
  EXPECT_GE(refused_ms, 0) << "still accepting after SIGTERM";
  EXPECT_LE(refused_ms, bound(200ms + 300ms).count()) << "the listener closed late";

  ASSERT_TRUE(crowd.wait_all_ended(bound(30s))) << crowd.summary();
  std::size_t served = 0, refused = 0;
  Clock::time_point last_served = signalled;
  for (std::size_t i = 0; i < clients; ++i) {
    const Peer& p = crowd[i];
    if (p.ending == Ending::eof && p.received == sent[i]) {
      ++served;
      last_served = std::max(last_served, p.ended_at);
    } else if (p.received.empty()) {
      ++refused;  // still in the kernel's backlog when the listener closed: never accepted
    } else {
      ADD_FAILURE() << "client " << i << " got '" << p.received << "' then " << to_string(p.ending)
                    << ": a request lost or answered twice";
    }
  }
  EXPECT_GE(served + idle, accepted_before_signal) << "an accepted connection was not served";
  double idle_closed_ms = 0;
  for (std::size_t i = first_idle; i < crowd.size(); ++i) {
    EXPECT_EQ(crowd[i].received, "");
    idle_closed_ms = std::max(idle_closed_ms, ms_between(signalled, crowd[i].ended_at));
    if (last_served > signalled) {
      EXPECT_LT(crowd[i].ended_at, last_served) << "an idle client waited for the busy ones";
    }
  }
  EXPECT_LE(idle_closed_ms, bound(100ms).count()) << "idle clients not closed at once";
  const auto status = server.process.process.wait(bound(10s));
  ASSERT_TRUE(status) << "still running after its last request ended";
  EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << server.log.text();
  Figures()
      .add("clients", clients)
      .add("idle_clients", idle)
      .add("accepted_before_signal", accepted_before_signal)
      .add("served", served)
      .add("refused_never_accepted", refused)
      .add("refused_after_signal_ms", refused_ms)
      .add("idle_closed_after_signal_ms", idle_closed_ms)
      .add("last_served_after_signal_ms", ms_between(signalled, last_served));
}

INSTANTIATE_TEST_SUITE_P(Adversarial, SigtermDuringLoad, each_of(kStreamTransports, kPolicies),
                         transport_policy_name);

class SigtermWithIdleConnections : public TransportPolicyTest {};

TEST_P(SigtermWithIdleConnections, ExitsWithinASecond) {
  const PolicyCase& policy = this->policy();
  const std::size_t n = sized(1000, 5000);
  SKIP_UNLESS_FDS(n + 100);
  Server server = start_with(kEchoServer, {"--max-queued", std::to_string(n + 100),
                                           "--drain-timeout", "30", "--stats-interval", "0.1"});
  Crowd crowd(server.at());
  crowd.connect(n);
  ASSERT_TRUE(crowd.wait_connected(bound(30s))) << crowd.summary();
  // Those the policy takes at once: all of them where it holds connections
  // itself, one for serial, a child per connection up to the cap for forking.
  const std::size_t taken = !policy.concurrent ? 1 : policy.process_per_request ? 32 : n;
  const auto held = server.log.wait_for_stats(
      [&](const StatsLine& s) { return s["total"] >= taken; }, bound(30s));
  ASSERT_TRUE(held) << server.log.text();
  const std::size_t threads = thread_count(server.pid());

  const auto signalled = Clock::now();
  server.process.process.send_signal(SIGTERM);
  const auto status = server.process.process.wait(bound(10s));
  const double exit_ms = ms_between(signalled, Clock::now());
  ASSERT_TRUE(status) << "still running 10 s after SIGTERM with idle connections";
  EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << server.log.text();
  EXPECT_LE(exit_ms, bound(1s + 500ms).count()) << "idle connections held up the exit";
  ASSERT_TRUE(crowd.wait_all_ended(bound(5s))) << crowd.summary();
  EXPECT_EQ(crowd.count([](const Peer& p) { return !p.received.empty(); }), 0u);
  Figures()
      .add("idle_connections", n)
      .add("accepted", (*held)["total"])
      .add("server_threads", threads)
      .add("exit_ms", exit_ms);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, SigtermWithIdleConnections,
                         each_of(kStreamTransports, kPolicies), transport_policy_name);

// --- a second signal ----------------------------------------------------------------

using SignalPair = std::tuple<PolicyCase, int, int>;

class SecondSignal : public testing::TestWithParam<SignalPair> {};

TEST_P(SecondSignal, ForcesTheExitWithADocumentedStatus) {
  const auto& [policy, first, second] = GetParam();
  if (sanitizer() == "thread") {
    // The forced exit leaves the server's threads unjoined by design: not a leak to report.
    const char* options = std::getenv("TSAN_OPTIONS");
    ::setenv("TSAN_OPTIONS",
             (std::string(options ? options : "") + " report_thread_leaks=0").c_str(), 1);
  }
  TempDir dir;
  Server server = start(kFaultServer, "tcp", policy, dir, {"--drain-timeout", "60"});
  Client c = client_of(server.at(), dir);
  c.send_all("x\nHANG\n");  // in flight until the drain deadline, a minute away
  ASSERT_EQ(c.recv_line(), "x\n");
  server.process.process.send_signal(first);
  ASSERT_GE(ms_until_refused(server.at(), bound(5s)), 0) << "still accepting after the signal";
  EXPECT_FALSE(server.process.process.wait(100ms)) << "the drain did not wait for HANG";

  const auto signalled = Clock::now();
  server.process.process.send_signal(second);
  const auto status = server.process.process.wait(bound(5s));
  const double exit_ms = ms_between(signalled, Clock::now());
  ASSERT_TRUE(status) << "a second signal did not force the exit";
  EXPECT_EQ(status->signal, 0) << "ended by a signal: " << *status;
  EXPECT_TRUE(status->exited(128 + second)) << *status;
  EXPECT_LE(exit_ms, bound(1s).count());
  Figures().add("exit_status", status->code).add("exit_ms", exit_ms);
}

std::string signal_pair_name(const testing::TestParamInfo<SignalPair>& p) {
  auto name = [](int sig) { return sig == SIGTERM ? "TERM" : "INT"; };
  return std::get<0>(p.param).name + "_" + name(std::get<1>(p.param)) + "_then_" +
         name(std::get<2>(p.param));
}

INSTANTIATE_TEST_SUITE_P(Adversarial, SecondSignal,
                         testing::Combine(testing::ValuesIn(kPolicies),
                                          testing::Values(SIGTERM, SIGINT),
                                          testing::Values(SIGTERM, SIGINT)),
                         signal_pair_name);

}  // namespace
}  // namespace switchboard::test
