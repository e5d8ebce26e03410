// The limits an operator sets, seen from outside: --max-connections with
// --overload refuse (the extra connections are closed at once, counted) and
// block (they wait in the kernel's backlog until a slot frees), and the
// accounting under overload: every connection sent is either served in full
// or refused without a byte, and the server's count of refusals agrees.

#include <tuple>

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

constexpr std::size_t kCap = 8;

class MaxConnections : public TransportPolicyTest {
 protected:
  // kCap connections, each served one line (so each is accepted and held).
  void hold(Server& server, Crowd& crowd) {
    crowd.connect(kCap);
    for (std::size_t i = 0; i < kCap; ++i) crowd.send(i, "held " + std::to_string(i) + "\n");
    ASSERT_TRUE(crowd.drive_until(
        [&] {
          return crowd.count([](const Peer& p) { return p.received.ends_with("\n"); }) == kCap;
        },
        bound(10s)))
        << "the first " << kCap << " clients were not all served: " << crowd.summary()
        << "; log: " << server.log.text();
    for (std::size_t i = 0; i < kCap; ++i)
      ASSERT_EQ(crowd[i].received, "held " + std::to_string(i) + "\n");
  }

  std::vector<std::string> flags(const char* overload) {
    return {"--max-connections", std::to_string(kCap), "--overload",       overload,
            "--threads",         std::to_string(kCap), "--stats-interval", "0.1"};
  }
};

TEST_P(MaxConnections, RefuseClosesTheExtraConnectionsAtOnce) {
  const std::size_t extra = sized(16, 256);
  Server server = start_with(kEchoServer, flags("refuse"));
  Crowd crowd(server.at());
  hold(server, crowd);
  if (HasFatalFailure()) return;

  const std::size_t first = crowd.connect(extra);
  for (std::size_t i = first; i < crowd.size(); ++i) crowd.send(i, "extra\n");
  ASSERT_TRUE(crowd.drive_until(
      [&] {
        for (std::size_t i = first; i < crowd.size(); ++i)
          if (!crowd[i].ended()) return false;
        return true;
      },
      bound(5s)))
      << "refused connections left open: " << crowd.summary();
  std::vector<double> latency;
  for (std::size_t i = first; i < crowd.size(); ++i) {
    EXPECT_EQ(crowd[i].received, "") << "a refused connection got bytes";
    latency.push_back(ms_between(crowd[i].started, crowd[i].ended_at));
  }
  for (std::size_t i = 0; i < kCap; ++i) EXPECT_FALSE(crowd[i].ended()) << "held " << i << " lost";
  std::sort(latency.begin(), latency.end());
  EXPECT_LE(latency.back(), bound(1s).count()) << "a refusal took too long";

  const auto stats = server.log.wait_for_stats(
      [&](const StatsLine& s) { return s["refused"] >= extra; }, bound(5s));
  ASSERT_TRUE(stats) << server.log.text();
  EXPECT_EQ((*stats)["refused"], extra);
  EXPECT_EQ((*stats)["connections"], kCap);

  // A slot frees: the next client is served.
  crowd.close(0);
  EXPECT_TRUE(server.log.wait_for_stats([](const StatsLine& s) { return s["connections"] < kCap; },
                                        bound(5s)));
  EXPECT_EQ(echo_check(server.at(), dir), "");
  server.expect_clean_stop();
  Figures()
      .add("cap", kCap)
      .add("extra", extra)
      .add("refused", (*stats)["refused"])
      .add("refusal_ms_median", latency[latency.size() / 2])
      .add("refusal_ms_max", latency.back());
}

TEST_P(MaxConnections, BlockLeavesTheExtraConnectionInTheBacklog) {
  Server server = start_with(kEchoServer, flags("block"));
  Crowd crowd(server.at());
  hold(server, crowd);
  if (HasFatalFailure()) return;

  const std::size_t late = crowd.connect(1);
  crowd.send(late, "late\n");
  ASSERT_TRUE(crowd.wait_connected()) << "the kernel backlog did not take the connection";
  crowd.drive_for(300ms);  // a window in which the server must not take it
  EXPECT_EQ(crowd[late].received, "") << "served beyond --max-connections";
  EXPECT_FALSE(crowd[late].ended()) << "closed instead of waiting in the backlog";
  const auto stats = server.log.wait_for_stats([](const StatsLine&) { return true; });
  ASSERT_TRUE(stats) << server.log.text();
  EXPECT_EQ((*stats)["total"], kCap) << "accepted beyond --max-connections";
  EXPECT_EQ((*stats)["refused"], 0u);

  const auto freed = Clock::now();
  crowd.close(0);
  ASSERT_TRUE(crowd.drive_until([&] { return crowd[late].received == "late\n"; }, bound(5s)))
      << "the waiting client was not served once a slot freed: " << crowd.summary();
  const double served_ms = ms_between(freed, crowd[late].first_byte_at);
  server.expect_clean_stop();
  Figures().add("cap", kCap).add("served_after_slot_freed_ms", served_ms);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, MaxConnections,
                         each_of(kStreamTransports, policies_where(concurrent)),
                         transport_policy_name);

// --- accounting under overload ---------------------------------------------------

// Two workers (threading: two threads), four queued (pool, reactor), six
// connections at most (every policy):
// fault_server's SLEEP keeps each connection busy long enough for the flood to
// meet the limit.
const std::vector<std::string> kLimitFlags = {"--threads",         "2", "--max-queued",     "4",
                                              "--max-connections", "6", "--stats-interval", "0.1"};
constexpr std::size_t kLimit = 6;
constexpr std::size_t kThreads = 2;
constexpr std::size_t kQueued = 4;

struct Tally {
  std::size_t served = 0, refused = 0, other = 0;
  std::string first_other;
};

// Served: every byte sent came back, then EOF. Refused: nothing came back.
Tally tally(const Crowd& crowd, const std::vector<std::string>& sent) {
  Tally t;
  for (std::size_t i = 0; i < crowd.size(); ++i) {
    const Peer& p = crowd[i];
    if (p.ending == Ending::eof && p.received == sent[i]) {
      ++t.served;
    } else if (p.ended() && p.received.empty()) {
      ++t.refused;
    } else {
      if (t.other++ == 0)
        t.first_other = "peer " + std::to_string(i) + " ended " + to_string(p.ending) + " with '" +
                        p.received + "' (sent '" + sent[i] + "')";
    }
  }
  return t;
}

class OverloadAccounting : public TransportPolicyTest {
 protected:
  // `n` clients at once, each "SLEEP<ms>" and a line, then a half-close.
  Tally flood(Server& server, std::size_t n, int sleep_ms) {
    Crowd crowd(server.at());
    crowd.connect(n);
    std::vector<std::string> sent;
    for (std::size_t i = 0; i < n; ++i) {
      sent.push_back("SLEEP" + std::to_string(sleep_ms) + "\nline " + std::to_string(i) + "\n");
      crowd.send(i, sent.back(), true);
    }
    EXPECT_TRUE(crowd.wait_all_ended(bound(60s))) << "clients left hanging: " << crowd.summary();
    return tally(crowd, sent);
  }
};

TEST_P(OverloadAccounting, RefuseAccountsForEveryConnectionSent) {
  const std::size_t n = sized(40, 400);
  auto flags = kLimitFlags;
  flags.insert(flags.end(), {"--overload", "refuse"});
  Server server = start_with(kFaultServer, flags);
  const Tally t = flood(server, n, 100);
  EXPECT_EQ(t.other, 0u) << t.first_other;
  EXPECT_EQ(t.served + t.refused, n);
  // At least what the limit holds while its workers are busy (a pool's queue
  // may fill before its workers took the first ones off it); threading has
  // no queue: --threads alone caps it.
  EXPECT_GE(t.served, policy().thread_per_connection ? kThreads : kQueued);
  EXPECT_GE(t.refused, 1u);
  const auto stats = server.log.wait_for_stats(
      [&](const StatsLine& s) { return s["total"] >= n && s["connections"] == 0; }, bound(10s));
  ASSERT_TRUE(stats) << server.log.text();
  EXPECT_EQ((*stats)["refused"], t.refused) << "the server's count disagrees with its clients'";
  EXPECT_EQ((*stats)["total"], n);
  server.expect_clean_stop();
  Figures().add("sent", n).add("served", t.served).add("refused", t.refused).add("limit", kLimit);
}

TEST_P(OverloadAccounting, BlockServesEveryConnectionSent) {
  const std::size_t n = sized(40, 400);
  auto flags = kLimitFlags;
  flags.insert(flags.end(), {"--overload", "block"});
  Server server = start_with(kFaultServer, flags);
  const auto began = Clock::now();
  const Tally t = flood(server, n, 20);
  const double elapsed = ms_between(began, Clock::now());
  EXPECT_EQ(t.other, 0u) << t.first_other;
  EXPECT_EQ(t.served, n);
  EXPECT_EQ(t.refused, 0u);
  const auto stats = server.log.wait_for_stats(
      [&](const StatsLine& s) { return s["total"] >= n && s["connections"] == 0; }, bound(10s));
  ASSERT_TRUE(stats) << server.log.text();
  EXPECT_EQ((*stats)["refused"], 0u);
  EXPECT_LE((*stats)["peak_connections"], kLimit);
  server.expect_clean_stop();
  Figures()
      .add("sent", n)
      .add("served", t.served)
      .add("refused", t.refused)
      .add("peak_connections", (*stats)["peak_connections"])
      .add("elapsed_ms", elapsed);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, OverloadAccounting,
                         each_of(kStreamTransports, policies_where(concurrent)),
                         transport_policy_name);

}  // namespace
}  // namespace switchboard::test
