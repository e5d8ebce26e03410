// Handlers that throw, of every kind (std::runtime_error, an int,
// std::bad_alloc), in the middle of a load of ordinary clients: each throw
// ends its own connection after the lines before it were answered; every
// other connection gets every line back; the server counts and reports each
// throw and keeps serving.

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

const std::vector<std::string> kThrows = {"BOOM", "BOOM42", "OOM"};

class HandlerFaults : public TransportPolicyTest {};

TEST_P(HandlerFaults, ThrowsUnderLoadEndOnlyTheirOwnConnection) {
  const std::size_t clients = sized(24, 120);
  const std::size_t lines = sized(20, 200);
  Server server = start_with(kFaultServer, {"--stats-interval", "0.1"});
  Crowd crowd(server.at());
  crowd.connect(clients);
  std::vector<std::string> expected(clients);
  std::size_t throwers = 0;
  for (std::size_t i = 0; i < clients; ++i) {
    const bool throws = i % 3 == 1;
    std::string sent;
    for (std::size_t k = 0; k < (throws ? lines / 2 : lines); ++k)
      sent += "client " + std::to_string(i) + " line " + std::to_string(k) + "\n";
    expected[i] = sent;
    if (throws) sent += kThrows[throwers++ % kThrows.size()] + "\n";
    crowd.send(i, sent, true);
  }
  ASSERT_TRUE(crowd.wait_all_ended(bound(30s))) << crowd.summary();
  for (std::size_t i = 0; i < clients; ++i) {
    EXPECT_TRUE(crowd[i].received == expected[i])
        << "client " << i << (i % 3 == 1 ? " (throws)" : "") << " got " << crowd[i].received.size()
        << " bytes of " << expected[i].size();
    if (i % 3 != 1) {
      EXPECT_EQ(crowd[i].ending, Ending::eof) << "client " << i;
    }
  }
  EXPECT_EQ(echo_check(server.at(), dir), "");
  // Each throw reported once on stderr (a forked child writes it there too)...
  EXPECT_TRUE(eventually(
      [&] { return server.log.count_lines_with("error while serving") >= throwers; }, bound(5s)));
  EXPECT_EQ(server.log.count_lines_with("error while serving"), throwers) << server.log.text();
  // ...and counted once (a forked child in counters it shares with the parent).
  const std::optional<StatsLine> stats = server.log.wait_for_stats(
      [&](const StatsLine& s) { return s["handler_errors"] >= throwers; }, bound(5s));
  ASSERT_TRUE(stats) << server.log.text();
  EXPECT_EQ((*stats)["handler_errors"], throwers);
  server.expect_clean_stop();
  Figures()
      .add("clients", clients)
      .add("throwing_clients", throwers)
      .add("lines_each", lines)
      .add("handler_errors", (*stats)["handler_errors"])
      .add("error_lines", server.log.count_lines_with("error while serving"));
}

INSTANTIATE_TEST_SUITE_P(Adversarial, HandlerFaults, each_of(kStreamTransports, kPolicies),
                         transport_policy_name);

}  // namespace
}  // namespace switchboard::test
