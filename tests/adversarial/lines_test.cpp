// Abusive and awkward streams: a 10 MB line without a newline, slowloris
// clients that send a byte now and then (against fault_server, which reads
// lines: echo_server answers bytes at once), and clients that half-close with
// a lot still to be echoed.

#include <cstdio>
#include <tuple>

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

// --- a 10 MB line ----------------------------------------------------------------

class HugeLine : public TransportPolicyTest {};

// The line is longer than --max-line (64 KiB by default): the connection ends,
// nothing of the line comes back, and the server does not hold the 10 MB.
TEST_P(HugeLine, EndsTheConnectionWithoutEchoingOrBufferingIt) {
  const std::size_t clients = sized(4, 16);
  const std::size_t line_bytes = 10 << 20;
  Server server = start_with(kFaultServer);
  ASSERT_EQ(echo_check(server.at(), dir), "");
  const std::size_t rss_before = rss_kib(server.pid());

  Crowd crowd(server.at());
  crowd.connect(clients);
  const std::string huge(line_bytes, 'x');
  for (std::size_t i = 0; i < clients; ++i) crowd.send(i, "before\n" + huge);
  std::size_t rss_peak = rss_before;
  const auto began = Clock::now();
  const bool ended = crowd.drive_until(
      [&] {
        rss_peak = std::max(rss_peak, rss_kib(server.pid()));
        return crowd.count(&Peer::ended) == clients;
      },
      bound(30s));
  ASSERT_TRUE(ended) << "connections with an endless line still open: " << crowd.summary();
  const double elapsed = ms_between(began, Clock::now());
  std::size_t most_sent = 0;
  for (std::size_t i = 0; i < clients; ++i) {
    EXPECT_EQ(crowd[i].received, "before\n") << "client " << i;
    most_sent = std::max(most_sent, crowd[i].sent);
  }
  EXPECT_LT(most_sent, huge.size()) << "the server read the whole line";
  if (!sanitized()) {
    EXPECT_LE(rss_peak, rss_before + 32 * 1024) << "RSS grew by more than 32 MiB";
  }
  EXPECT_EQ(echo_check(server.at(), dir), "");
  server.expect_clean_stop();
  Figures()
      .add("clients", clients)
      .add("line_bytes", line_bytes)
      .add("most_bytes_sent_before_close", most_sent)
      .add("rss_kib_before", rss_before)
      .add("rss_kib_peak", rss_peak)
      .add("ended_after_ms", elapsed);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, HugeLine, each_of(kStreamTransports, kPolicies),
                         transport_policy_name);

// --- slowloris ---------------------------------------------------------------------

class Slowloris : public TransportPolicyTest {};

// Clients that send one byte, then stay silent longer than --idle-timeout,
// are closed; a client whose bytes trickle in faster than the timeout is not
// (the timeout resets on progress); ordinary clients are served meanwhile.
TEST_P(Slowloris, SilentClientsAreClosedAndProgressResetsTheTimeout) {
  const std::size_t slow = sized(8, 64);
  constexpr auto kIdle = 500ms;  // five times the trickle's gaps: a busy machine keeps it alive
  Server server = start_with(kFaultServer, {"--idle-timeout", "0.5", "--threads",
                                            std::to_string(slow + 4), "--stats-interval", "0.1"});

  Crowd crowd(server.at());
  crowd.connect(slow);
  for (std::size_t i = 0; i < slow; ++i) crowd.send(i, "G");  // then one byte a second
  Crowd trickle(server.at());
  trickle.connect(1);
  const std::string line = "trickle\n";  // one byte per 100 ms: 800 ms in all
  std::vector<Clock::time_point> last_byte(slow, Clock::now());

  const auto began = Clock::now();
  std::size_t tick = 0;
  while (crowd.count(&Peer::ended) < slow || trickle[0].received != line) {
    ASSERT_LT(ms_between(began, Clock::now()), bound(10s).count())
        << "slow clients still open: " << crowd.summary() << "; trickle got '"
        << trickle[0].received << "'";
    if (tick < line.size()) trickle.send(0, line.substr(tick, 1));
    if (tick > 0 && tick % 10 == 0) {
      for (std::size_t i = 0; i < slow; ++i) {
        if (crowd[i].ended()) continue;
        crowd.send(i, "G");
        last_byte[i] = Clock::now();
      }
    }
    ++tick;
    crowd.drive_for(50ms);
    trickle.drive_for(50ms);
  }
  EXPECT_EQ(echo_check(server.at(), dir), "") << "an ordinary client during the attack";

  std::vector<double> closed_after;
  for (std::size_t i = 0; i < slow; ++i) {
    EXPECT_EQ(crowd[i].received, "") << "a partial line was echoed";
    closed_after.push_back(ms_between(last_byte[i], crowd[i].ended_at));
  }
  std::sort(closed_after.begin(), closed_after.end());
  EXPECT_GE(closed_after.front(), kIdle.count() * 0.8) << "closed before the idle timeout";
  EXPECT_EQ(trickle[0].received, line) << "progress did not reset the idle timeout";
  // Counted wherever the connection was served (a forked child shares its counters).
  const std::optional<StatsLine> stats = server.log.wait_for_stats(
      [&](const StatsLine& s) { return s["timed_out"] >= slow; }, bound(5s));
  EXPECT_TRUE(stats) << "timed-out connections not counted: " << server.log.text();
  server.expect_clean_stop();
  Figures()
      .add("slow_clients", slow)
      .add("idle_timeout_ms", kIdle.count())
      .add("closed_after_silence_ms_min", closed_after.front())
      .add("closed_after_silence_ms_max", closed_after.back())
      .add("timed_out", stats ? (*stats)["timed_out"] : 0)
      .add("trickle_served", trickle[0].received == line);
}

// Clients that trickle a byte every 100 ms, never finishing a line: progress
// keeps the idle timeout at bay, the first-request deadline does not.
TEST_P(Slowloris, SteadyTrickleIsCutByTheFirstRequestDeadline) {
  const std::size_t slow = sized(4, 32);
  constexpr auto kDeadline = 500ms;
  Server server =
      start_with(kFaultServer, {"--idle-timeout", "5", "--first-request-timeout", "0.5",
                                "--threads", std::to_string(slow + 4), "--stats-interval", "0.1"});
  Crowd crowd(server.at());
  crowd.connect(slow);
  const auto began = Clock::now();
  while (crowd.count(&Peer::ended) < slow) {
    ASSERT_LT(ms_between(began, Clock::now()), bound(10s).count())
        << "trickling clients still open: " << crowd.summary();
    for (std::size_t i = 0; i < slow; ++i)
      if (!crowd[i].ended()) crowd.send(i, "x");
    crowd.drive_for(100ms);
  }
  EXPECT_EQ(echo_check(server.at(), dir), "") << "an ordinary client after the trickle";
  std::vector<double> lived;
  for (std::size_t i = 0; i < slow; ++i) {
    EXPECT_EQ(crowd[i].received, "") << "a partial line was echoed";
    lived.push_back(ms_between(crowd[i].started, crowd[i].ended_at));
  }
  std::sort(lived.begin(), lived.end());
  EXPECT_GE(lived.front(), kDeadline.count() * 0.8) << "closed before the deadline";
  EXPECT_LE(lived.back(), bound(3s).count()) << "the deadline did not hold";
  EXPECT_TRUE(server.log.wait_for_stats([&](const StatsLine& s) { return s["timed_out"] >= slow; },
                                        bound(5s)))
      << server.log.text();
  server.expect_clean_stop();
  Figures()
      .add("slow_clients", slow)
      .add("first_request_timeout_ms", kDeadline.count())
      .add("lived_ms_min", lived.front())
      .add("lived_ms_max", lived.back());
}

INSTANTIATE_TEST_SUITE_P(Adversarial, Slowloris,
                         each_of(kStreamTransports, policies_where(concurrent)),
                         transport_policy_name);

// --- half-close with data still to echo ---------------------------------------------

class HalfClose : public TransportPolicyTest {};

// Each client sends megabytes of lines and half-closes at once, reading as it
// goes: everything comes back, in order, then EOF.
TEST_P(HalfClose, EverythingSentBeforeTheHalfCloseComesBack) {
  const std::size_t clients = sized(4, 16);
  const std::size_t lines = sized(100'000, 500'000);  // 16 bytes each
  Server server = start_with(kEchoServer);
  Crowd crowd(server.at());
  crowd.connect(clients);
  std::vector<std::string> sent(clients);
  for (std::size_t i = 0; i < clients; ++i) {
    char buffer[32];
    for (std::size_t k = 0; k < lines; ++k) {
      std::snprintf(buffer, sizeof buffer, "c%02zu line %06zu\n", i, k % 1'000'000);
      sent[i] += buffer;
    }
    crowd.send(i, sent[i], true);
  }
  const auto began = Clock::now();
  ASSERT_TRUE(crowd.wait_all_ended(bound(60s))) << crowd.summary();
  const double elapsed = ms_between(began, Clock::now());
  for (std::size_t i = 0; i < clients; ++i) {
    EXPECT_EQ(crowd[i].ending, Ending::eof) << to_string(crowd[i].ending);
    EXPECT_TRUE(crowd[i].received == sent[i]) << "client " << i << ": " << crowd[i].received.size()
                                              << " bytes back of " << sent[i].size();
  }
  server.expect_clean_stop();
  Figures()
      .add("clients", clients)
      .add("bytes_each", sent[0].size())
      .add("elapsed_ms", elapsed)
      .add("mib_per_s",
           static_cast<double>(clients * sent[0].size()) / (1 << 20) / (elapsed / 1000));
}

INSTANTIATE_TEST_SUITE_P(Adversarial, HalfClose, each_of(kStreamTransports, kPolicies),
                         transport_policy_name);

}  // namespace
}  // namespace switchboard::test
