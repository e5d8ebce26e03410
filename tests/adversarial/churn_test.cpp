// Connections that come and go: thousands of short ones (no descriptor, thread
// or CLOSE_WAIT left behind), clients that connect and vanish or reset before
// the server accepts them, and a burst of connects against the backlog.

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

std::string numbered(const char* what, std::size_t i) {
  return std::string(what) + " " + std::to_string(i) + "\n";
}

// Every peer got back exactly what it sent, then EOF; "" or the first that did not.
std::string first_unserved(const Crowd& crowd, const std::vector<std::string>& sent,
                           std::size_t from = 0) {
  for (std::size_t i = from; i < crowd.size(); ++i) {
    const Peer& p = crowd[i];
    if (p.ending != Ending::eof || p.received != sent[i - from])
      return "peer " + std::to_string(i) + " ended " + to_string(p.ending) + " with '" +
             p.received + "', sent '" + sent[i - from] + "'";
  }
  return "";
}

class ShortConnections : public TransportPolicyTest {};

TEST_P(ShortConnections, LeaveNoDescriptorThreadOrCloseWaitBehind) {
  const PolicyCase& policy = this->policy();
  // A fork per connection costs a millisecond or two: fewer of them.
  const std::size_t n = policy.process_per_request ? sized(500, 5000) : sized(2000, 20000);
  constexpr std::size_t kBatch = 50;
  Server server = start_with(kEchoServer);
  ASSERT_EQ(echo_check(server.at(), dir), "");
  const std::size_t fds_before = open_fds(server.pid());
  const std::size_t threads_before = thread_count(server.pid());
  const std::size_t rss_before = rss_kib(server.pid());
  std::size_t peak_threads = threads_before, peak_fds = fds_before;

  const auto began = Clock::now();
  for (std::size_t done = 0; done < n; done += kBatch) {
    Crowd crowd(server.at());
    crowd.connect(kBatch);
    std::vector<std::string> sent;
    for (std::size_t i = 0; i < kBatch; ++i) {
      sent.push_back(numbered("short", done + i));
      crowd.send(i, sent.back(), true);  // the client half-closes: the server closes first
    }
    ASSERT_TRUE(crowd.wait_all_ended(bound(20s))) << crowd.summary();
    const std::string lost = first_unserved(crowd, sent);
    ASSERT_EQ(lost, "") << "after " << done << " connections";
    if ((done / kBatch) % 8 == 0) {
      peak_threads = std::max(peak_threads, thread_count(server.pid()));
      peak_fds = std::max(peak_fds, open_fds(server.pid()));
    }
  }
  const double elapsed_s = ms_between(began, Clock::now()) / 1000;

  EXPECT_TRUE(eventually([&] { return open_fds(server.pid()) <= fds_before; }, bound(10s)))
      << open_fds(server.pid()) << " descriptors open, " << fds_before << " before";
  EXPECT_TRUE(eventually([&] { return thread_count(server.pid()) <= threads_before; }, bound(10s)))
      << thread_count(server.pid()) << " threads, " << threads_before << " before";
  const bool tcp = server.at().scheme == "tcp";  // socket states are a TCP matter
  EXPECT_TRUE(eventually(
      [&] { return !tcp || count_tcp_sockets(server.at().port, TcpState::close_wait) == 0; },
      bound(10s)))
      << count_tcp_sockets(server.at().port, TcpState::close_wait) << " sockets in CLOSE_WAIT";
  const std::size_t rss_after = rss_kib(server.pid());
  if (!sanitized()) {
    EXPECT_LE(rss_after, rss_before + 64 * 1024) << "RSS grew by more than 64 MiB";
  }
  const std::size_t time_wait = tcp ? count_tcp_sockets(server.at().port, TcpState::time_wait) : 0;
  const std::size_t fds_after = open_fds(server.pid());
  const std::size_t threads_after = thread_count(server.pid());
  server.expect_clean_stop();

  Figures()
      .add("connections", n)
      .add("elapsed_s", elapsed_s)
      .add("per_second", static_cast<double>(n) / elapsed_s)
      .add("fds_before", fds_before)
      .add("fds_peak", peak_fds)
      .add("fds_after", fds_after)
      .add("threads_before", threads_before)
      .add("threads_peak", peak_threads)
      .add("threads_after", threads_after)
      .add("close_wait", 0)
      .add("time_wait_server_side", time_wait)
      .add("rss_kib_before", rss_before)
      .add("rss_kib_after", rss_after);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, ShortConnections, each_of(kStreamTransports, kPolicies),
                         transport_policy_name);

// --- vanishing clients ----------------------------------------------------------

class VanishingClients : public TransportPolicyTest {};

// One client holds the only slot (--max-connections 1, block), so the others
// wait in the kernel's backlog; there they close (FIN) or reset (SO_LINGER 0)
// before the server ever accepts them. When the slot frees, the server takes
// the dead connections in stride; then more clients vanish right after being
// accepted. Nothing is left behind and nothing is reported as an error.
TEST_P(VanishingClients, ConnectAndVanishOrResetBeforeAccept) {
  const std::size_t n = sized(50, 500);  // of each kind
  Server server = start_with(
      kEchoServer, {"--max-connections", "1", "--overload", "block", "--stats-interval", "0.1"});
  ASSERT_EQ(echo_check(server.at(), dir), "");
  const std::size_t fds_before = open_fds(server.pid());

  Crowd crowd(server.at());
  crowd.connect(1);
  crowd.send(0, "hold\n");
  ASSERT_TRUE(crowd.drive_until([&] { return crowd[0].received == "hold\n"; })) << crowd.summary();
  const std::size_t first = crowd.connect(2 * n);
  ASSERT_TRUE(crowd.wait_connected()) << crowd.summary();
  for (std::size_t i = first; i < first + n; ++i) crowd.close(i);
  for (std::size_t i = first + n; i < crowd.size(); ++i) crowd.abort(i);
  const auto before_accept = server.log.wait_for_stats([](const StatsLine&) { return true; });
  ASSERT_TRUE(before_accept) << server.log.text();
  EXPECT_EQ((*before_accept)["total"], 2u) << "accepted past --max-connections 1";

  crowd.close(0);  // the slot frees: the dead connections are accepted now
  const auto drained = server.log.wait_for_stats(
      [&](const StatsLine& s) { return s["total"] >= 2 + 2 * n && s["connections"] == 0; },
      bound(20s));
  ASSERT_TRUE(drained) << "the dead connections were not all taken: " << server.log.text();

  // And clients that vanish right after the server accepted them.
  Crowd after(server.at());
  after.connect(n);
  ASSERT_TRUE(after.wait_connected()) << after.summary();
  for (std::size_t i = 0; i < n; ++i) (i % 2 ? after.abort(i) : after.close(i));

  EXPECT_EQ(echo_check(server.at(), dir), "");
  EXPECT_TRUE(eventually([&] { return open_fds(server.pid()) <= fds_before; }, bound(10s)))
      << open_fds(server.pid()) << " descriptors open, " << fds_before << " before";
  EXPECT_TRUE(eventually(
      [&] { return count_tcp_sockets(server.at().port, TcpState::close_wait) == 0; }, bound(10s)));
  const auto stats = server.log.wait_for_stats(
      [&](const StatsLine& s) { return s["total"] >= 3 + 3 * n && s["connections"] == 0; },
      bound(10s));
  ASSERT_TRUE(stats) << server.log.text();
  EXPECT_EQ((*stats)["handler_errors"], 0u) << "a vanished client counted as a handler error";
  EXPECT_EQ(server.log.count_lines_with("error"), 0u) << server.log.text();
  server.expect_clean_stop();
  Figures()
      .add("vanished_before_accept", n)
      .add("reset_before_accept", n)
      .add("vanished_after_accept", n)
      .add("total", (*stats)["total"])
      .add("peer_resets", (*stats)["peer_resets"])
      .add("handler_errors", (*stats)["handler_errors"])
      .add("fds_before", fds_before);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, VanishingClients, each_of({"tcp"}, kPolicies),
                         transport_policy_name);

// --- a burst of connects ----------------------------------------------------------

class ConnectBurst : public TransportPolicyTest {};

// Far more connects at once than Python's backlog of 5: the backlog holds
// them, and each is served in full.
TEST_P(ConnectBurst, EveryConnectionInTheBurstIsServed) {
  const PolicyCase& policy = this->policy();
  const std::size_t n = policy.process_per_request ? sized(300, 2000) : sized(1000, 4000);
  SKIP_UNLESS_FDS(n + 100);
  Server server = start_with(kEchoServer);
  Crowd crowd(server.at());
  const auto began = Clock::now();
  crowd.connect(n);
  std::vector<std::string> sent;
  for (std::size_t i = 0; i < n; ++i) {
    sent.push_back(numbered("burst", i));
    crowd.send(i, sent.back(), true);
  }
  ASSERT_TRUE(crowd.wait_all_ended(bound(60s))) << crowd.summary();
  const double elapsed = ms_between(began, Clock::now());
  EXPECT_EQ(crowd.count(Ending::connect_failed), 0u) << crowd.summary();
  EXPECT_EQ(first_unserved(crowd, sent), "");
  double slowest_connect = 0;
  for (std::size_t i = 0; i < n; ++i)
    slowest_connect =
        std::max(slowest_connect, ms_between(crowd[i].started, crowd[i].connected_at));
  server.expect_clean_stop();
  Figures()
      .add("connections", n)
      .add("elapsed_ms", elapsed)
      .add("slowest_connect_ms", slowest_connect)
      .add("served", crowd.count(Ending::eof));
}

INSTANTIATE_TEST_SUITE_P(Adversarial, ConnectBurst, each_of(kStreamTransports, kPolicies),
                         transport_policy_name);

}  // namespace
}  // namespace switchboard::test
