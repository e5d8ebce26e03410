// The drain, from outside (docs/design.md, "The drain"): the
// connections the kernel accepted before the drain began are served, and only
// connects after it are refused; a connection cut at the deadline is never
// taken for the client's end of input; the deadline bounds the process even
// when a handler ignores it; and the sample says what its drain did.

#include <signal.h>

#include <cstring>
#include <filesystem>
#include <string>

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

const PolicyCase kSerial = kPolicies.front();

class DrainBacklog : public testing::TestWithParam<std::string> {};

// One thread (serial), busy with a slow request: clients that connect now sit
// in the listen backlog, accepted by the kernel, their lines sent. SIGTERM:
// each of them still gets its line back and a clean end (never a reset), a
// silent one ends cleanly at once, and connects from then on are refused.
TEST_P(DrainBacklog, AcceptedByTheKernelIsServedAndLaterConnectsAreRefused) {
  TempDir dir;
  Server server = start(kFaultServer, GetParam(), kSerial, dir, {"--drain-timeout", "30"});
  constexpr auto kSleep = 3000ms;
  Client busy = client_of(server.at(), dir);
  busy.send_all("go\nSLEEP3000\n");
  ASSERT_EQ(busy.recv_line(), "go\n");  // flushed before the sleep: the only thread sleeps now
  const auto sleep_began = Clock::now();

  constexpr std::size_t kSenders = 4;  // then one silent client
  Crowd backlog(server.at());
  backlog.connect(kSenders + 1);
  ASSERT_TRUE(backlog.wait_connected()) << backlog.summary();
  for (std::size_t i = 0; i < kSenders; ++i) backlog.send(i, "line " + std::to_string(i) + "\n");
  ASSERT_TRUE(backlog.drive_until([&] {
    return backlog.count([](const Peer& p) { return p.all_sent(); }) == kSenders + 1;
  })) << backlog.summary();
  const auto signalled = Clock::now();
  ASSERT_LT(ms_between(sleep_began, signalled), (kSleep - 500ms).count())
      << "too slow to fill the backlog while the request was in flight: nothing was tested";
  server.process.process.send_signal(SIGTERM);

  const double refused_ms = ms_until_refused(server.at(), bound(5s), &backlog);
  EXPECT_GE(refused_ms, 0) << "a connect after the signal was not refused";
  EXPECT_LE(refused_ms, bound(500ms).count()) << "the listener closed late";
  ASSERT_TRUE(backlog.drive_until([&] { return backlog[kSenders].ended(); }, bound(1s)))
      << "the silent client waited: " << backlog.summary();
  EXPECT_EQ(backlog[kSenders].ending, Ending::eof) << std::strerror(backlog[kSenders].error);
  EXPECT_EQ(backlog[kSenders].received, "");
  EXPECT_LT(backlog[kSenders].ended_at, sleep_began + kSleep) << "it waited for the busy one";

  EXPECT_EQ(busy.recv_line(bound(kTimeout)), "SLEEP3000\n");
  EXPECT_EQ(busy.recv_until_eof(bound(kTimeout)), "");
  EXPECT_FALSE(busy.was_reset());
  ASSERT_TRUE(backlog.wait_all_ended(bound(kTimeout))) << backlog.summary();
  for (std::size_t i = 0; i < kSenders; ++i) {
    EXPECT_EQ(backlog[i].received, "line " + std::to_string(i) + "\n") << "client " << i;
    EXPECT_EQ(backlog[i].ending, Ending::eof)
        << "client " << i << ": " << std::strerror(backlog[i].error);
  }
  const auto status = server.process.process.wait(bound(kTimeout));
  ASSERT_TRUE(status) << "still running after the backlog was served";
  EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << server.log.text();
  EXPECT_EQ(server.log.count_lines_with("drain deadline"), 0u) << server.log.text();
  Figures()
      .add("backlog_clients", kSenders + 1)
      .add("refused_after_signal_ms", refused_ms)
      .add("silent_closed_after_signal_ms", ms_between(signalled, backlog[kSenders].ended_at));
}

INSTANTIATE_TEST_SUITE_P(Adversarial, DrainBacklog, testing::ValuesIn(kStreamTransports));

// --- the cut ---------------------------------------------------------------------------

class DrainCut : public TransportPolicyTest {
 protected:
  // A line, then `partial` without its newline: a request in flight when
  // SIGTERM comes, cut at the 0.5 s deadline. Returns what the client got
  // after the line; expects exit 0 and the drain said on stderr.
  std::string cut(Server& server, const std::string& partial) {
    Client c = client_of(server.at(), dir);
    c.send_all("x\n");
    EXPECT_EQ(c.recv_line(), "x\n");
    c.send_all(partial);  // in the server's receive queue before the signal: in flight
    const auto signalled = Clock::now();
    server.process.process.send_signal(SIGTERM);
    const std::string after = c.recv_until_eof(bound(kTimeout));
    const double cut_ms = ms_between(signalled, Clock::now());
    EXPECT_GE(cut_ms, 450) << "ended before the drain deadline";
    const auto status = server.process.process.wait(bound(kTimeout));
    EXPECT_TRUE(status) << "still running after the drain deadline";
    if (status) {
      EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << server.log.text();
    }
    EXPECT_EQ(server.log.count_lines_with("draining 1 connections, up to 0.5 s; again to quit"), 1u)
        << server.log.text();
    const std::size_t said_cut = server.log.count_lines_with("drain deadline: 1 connections cut");
    if (policy().process_per_request) {
      // The parent kills the child at the deadline, and the child never
      // counts its cut: the line may be missing, but is never wrong.
      EXPECT_EQ(server.log.count_lines_with("drain deadline:"), said_cut) << server.log.text();
    } else {
      EXPECT_EQ(said_cut, 1u) << server.log.text();
      EXPECT_EQ(server.log.count_lines_with("drain deadline:"), 1u) << server.log.text();
    }
    Figures().add("cut_after_ms", cut_ms).add("said_cut", said_cut);
    return after;
  }
};

// fault_server echoes lines: taking the cut for the client's end of input
// would answer "DEL important" as its last line.
TEST_P(DrainCut, APartialLineCutAtTheDeadlineIsNeverAnswered) {
  Server server = start_with(kFaultServer, {"--drain-timeout", "0.5"});
  EXPECT_EQ(cut(server, "DEL important"), "")
      << "the cut partial line was answered as the client's last line";
}

// What a server does with a last line may not show on the wire (the cut shut
// the connection for writing too), but a magic line does: a partial "BOOM"
// taken for the last line would throw, and the server would report it.
TEST_P(DrainCut, APartialLineCutAtTheDeadlineIsNeverActedOn) {
  Server server = start_with(kFaultServer, {"--drain-timeout", "0.5"});
  EXPECT_EQ(cut(server, "BOOM"), "");
  EXPECT_EQ(server.log.count_lines_with("BOOM"), 0u)
      << "the cut partial line was served as a request: " << server.log.text();
}

INSTANTIATE_TEST_SUITE_P(Adversarial, DrainCut, each_of(kStreamTransports, kPolicies),
                         transport_policy_name);

// --- a handler that ignores the deadline ------------------------------------------------

class DrainDeadline : public TransportPolicyTest {};

// SLEEP is a real sleep no drain cuts short: at --drain-timeout its connection
// is cut, and a moment later the process ends with status 0 all the same
// (the sample's watchdog), the Unix socket file removed.
TEST_P(DrainDeadline, BoundsTheProcessWhenAHandlerIgnoresIt) {
  Server server = start_with(kFaultServer, {"--drain-timeout", "1.5"});
  Client c = client_of(server.at(), dir);
  c.send_all("go\nSLEEP30000\n");
  ASSERT_EQ(c.recv_line(), "go\n");  // the sleep has begun
  const auto signalled = Clock::now();
  server.process.process.send_signal(SIGTERM);
  EXPECT_EQ(c.recv_until_eof(bound(kTimeout)), "") << "the sleep was answered";
  const double cut_ms = ms_between(signalled, Clock::now());
  const auto status = server.process.process.wait(bound(6s));
  const double exit_ms = ms_between(signalled, Clock::now());
  ASSERT_TRUE(status) << "still running " << exit_ms
                      << " ms after SIGTERM with --drain-timeout 1.5: the sleeping handler "
                         "holds the process; stderr: "
                      << server.log.text();
  EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << server.log.text();
  EXPECT_GE(cut_ms, 1400) << "cut before the drain deadline";
  EXPECT_GE(exit_ms, 1400) << "exited before the drain deadline";
  if (!policy().process_per_request) {  // a forked child is killed, and not counted
    EXPECT_EQ(server.log.count_lines_with("drain deadline: 1 connections cut"), 1u)
        << server.log.text();
  }
  if (transport() == "unix") {
    EXPECT_FALSE(std::filesystem::exists(server.at().path)) << "the socket file was left behind";
  }
  Figures().add("drain_timeout_ms", 1500).add("cut_after_ms", cut_ms).add("exit_after_ms", exit_ms);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, DrainDeadline, each_of(kStreamTransports, kPolicies),
                         transport_policy_name);

}  // namespace
}  // namespace switchboard::test
