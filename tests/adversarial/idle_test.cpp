// Thousands of idle connections: the server's threads stay bounded, and a
// fresh client is either served or explicitly refused (closed at once), never
// left hanging. Once the crowd leaves, fresh clients are served and the
// server's descriptors and threads are back where they were.

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

constexpr std::size_t kCap = 256;  // --max-connections
constexpr std::size_t kWorkers = 8;
constexpr std::size_t kQueued = 64;
constexpr std::size_t kSpareThreads = 16;  // main, signal watcher, stats, reaper, ...

class IdleConnections : public TransportPolicyTest {};

TEST_P(IdleConnections, ThreadsStayBoundedAndFreshClientsAreServedOrRefused) {
  const PolicyCase& policy = this->policy();
  const std::size_t n = sized(1000, 5000);
  SKIP_UNLESS_FDS(n + 300);
  Server server = start_with(
      kEchoServer, {"--max-connections", std::to_string(kCap), "--overload", "refuse", "--threads",
                    std::to_string(kWorkers), "--max-queued", std::to_string(kQueued),
                    "--idle-timeout", "120", "--stats-interval", "0.1"});
  ASSERT_EQ(echo_check(server.at(), dir), "");
  ASSERT_TRUE(eventually([&] { return thread_count(server.pid()) <= kWorkers + kSpareThreads; }));
  const std::size_t fds_before = open_fds(server.pid());
  const std::size_t threads_before = thread_count(server.pid());

  Crowd crowd(server.at());
  crowd.connect(n);
  ASSERT_TRUE(crowd.wait_connected(bound(30s))) << crowd.summary();
  // Every connection decided: accepted and held, or refused.
  const auto settled = server.log.wait_for_stats(
      [&](const StatsLine& s) { return s["total"] >= n + 1; }, bound(30s));
  ASSERT_TRUE(settled) << "the server never took all " << n
                       << " connections; clients: " << crowd.summary()
                       << "; log: " << server.log.text();
  const std::uint64_t refused = (*settled)["refused"];
  ASSERT_TRUE(crowd.drive_until([&] { return crowd.count(&Peer::ended) >= refused; }, bound(10s)))
      << "the server counted " << refused << " refusals; clients saw: " << crowd.summary();
  const std::size_t held = crowd.count([](const Peer& p) { return !p.ended(); });
  EXPECT_EQ(held + refused, n) << crowd.summary();
  EXPECT_EQ(crowd.count([](const Peer& p) { return !p.received.empty(); }), 0u)
      << "an idle client got bytes";
  EXPECT_LE(held, kCap);

  const std::size_t threads = thread_count(server.pid());
  const std::size_t fds = open_fds(server.pid());
  const std::size_t thread_bound = (policy.thread_per_connection ? held : kWorkers) + kSpareThreads;
  EXPECT_LE(threads, thread_bound) << held << " idle connections held";

  // A fresh client: served, or refused at once; never left waiting.
  Crowd fresh(server.at());
  fresh.connect(1);
  fresh.send(0, "fresh\n");
  ASSERT_TRUE(fresh.drive_until([&] { return fresh[0].ended() || fresh[0].received == "fresh\n"; },
                                bound(2s)))
      << "a fresh client was neither served nor refused within 2 s";
  const bool fresh_served = fresh[0].received == "fresh\n";
  if (!fresh_served) {
    EXPECT_EQ(fresh[0].received, "") << "refused, yet given part of a reply";
  }
  const double fresh_ms =
      ms_between(fresh[0].started, fresh_served ? fresh[0].first_byte_at : fresh[0].ended_at);

  // The crowd leaves: fresh clients are served, the server is back to its size.
  for (std::size_t i = 0; i < crowd.size(); ++i) crowd.close(i);
  EXPECT_TRUE(server.log.wait_for_stats([](const StatsLine& s) { return s["connections"] == 0; },
                                        bound(10s)))
      << server.log.text();
  EXPECT_EQ(echo_check(server.at(), dir), "");
  EXPECT_TRUE(eventually([&] { return open_fds(server.pid()) <= fds_before; }, bound(10s)))
      << open_fds(server.pid()) << " descriptors open, " << fds_before << " before the crowd";
  EXPECT_TRUE(
      eventually([&] { return thread_count(server.pid()) <= threads_before + 1; }, bound(10s)))
      << thread_count(server.pid()) << " threads, " << threads_before << " before the crowd";
  const std::size_t fds_after = open_fds(server.pid());
  server.expect_clean_stop();

  Figures()
      .add("connections", n)
      .add("held", held)
      .add("refused", refused)
      .add("server_threads", threads)
      .add("thread_bound", thread_bound)
      .add("server_fds", fds)
      .add("fresh", fresh_served ? "served" : "refused")
      .add("fresh_ms", fresh_ms)
      .add("fds_before", fds_before)
      .add("fds_after", fds_after);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, IdleConnections,
                         each_of(kStreamTransports, policies_where(concurrent)),
                         transport_policy_name);

}  // namespace
}  // namespace switchboard::test
