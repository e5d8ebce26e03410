// A client that resets its connection in the middle of a large reply: the
// server's next write fails (EPIPE or ECONNRESET, never SIGPIPE, which would
// kill it), that connection ends quietly, and serving goes on.

#include <tuple>

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

class ResetMidReply : public TransportPolicyTest {};

TEST_P(ResetMidReply, ServerSurvivesAndKeepsServing) {
  const std::size_t rounds = sized(4, 32);
  const std::string payload = [] {
    std::string lines;
    for (int k = 0; k < 200'000; ++k)
      lines += "a line to echo back, number " + std::to_string(k) + "\n";
    return lines;  // about 7 MB
  }();
  Server server = start_with(kEchoServer, {"--stats-interval", "0.1"});
  std::size_t received_before_reset = 0;
  for (std::size_t r = 0; r < rounds; ++r) {
    Crowd crowd(server.at());
    crowd.connect(1);
    crowd.send(0, payload);
    // Part of the reply is in: the server is busy writing the rest.
    ASSERT_TRUE(crowd.drive_until([&] { return crowd[0].received.size() >= 64 * 1024; }))
        << crowd.summary();
    received_before_reset = crowd[0].received.size();
    crowd.abort(0);  // SO_LINGER 0: a reset (a Unix socket just closes with data unread)
    EXPECT_EQ(echo_check(server.at(), dir), "") << "round " << r;
  }
  ASSERT_TRUE(::kill(server.pid(), 0) == 0) << "the server died";
  // A forked child counts in memory it shares with the parent.
  EXPECT_TRUE(server.log.wait_for_stats(
      [&](const StatsLine& s) { return s["peer_resets"] >= rounds && s["active"] == 0; },
      bound(10s)))
      << "resets not counted as peer_resets: " << server.log.text();
  const auto latest = server.log.latest_stats();
  if (latest) {
    EXPECT_EQ((*latest)["handler_errors"], 0u) << "a reset counted as a handler error";
  }
  EXPECT_EQ(server.log.count_lines_with("error"), 0u)
      << "a peer reset is not worth a log line: " << server.log.text();
  server.expect_clean_stop();
  Figures()
      .add("rounds", rounds)
      .add("payload_bytes", payload.size())
      .add("reply_bytes_before_reset", received_before_reset)
      .add("peer_resets", latest ? (*latest)["peer_resets"] : 0);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, ResetMidReply, each_of(kStreamTransports, kPolicies),
                         transport_policy_name);

}  // namespace
}  // namespace switchboard::test
