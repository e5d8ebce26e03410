// A restart on the same port while the old server's connections sit in
// TIME_WAIT (the server closed them first, at its drain): the new server binds
// at once (SO_REUSEADDR) and serves.

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

class RestartInTimeWait : public TransportPolicyTest {};

TEST_P(RestartInTimeWait, SamePortBindsAtOnceAndServes) {
  const std::size_t n = 8;  // fewer than the pool's workers: each is served
  Server first = start_with(kEchoServer, {}, "first");
  const std::uint16_t port = first.at().port;
  {
    // Idle connections, each served once: the drain closes them from the
    // server's side, which leaves the server's end in TIME_WAIT.
    Crowd crowd(first.at());
    crowd.connect(policy().concurrent ? n : 1);
    for (std::size_t i = 0; i < crowd.size(); ++i) crowd.send(i, "hello\n");
    ASSERT_TRUE(crowd.drive_until([&] {
      return crowd.count([](const Peer& p) { return p.received == "hello\n"; }) == crowd.size();
    })) << crowd.summary();
    first.expect_clean_stop();
    ASSERT_TRUE(crowd.wait_all_ended()) << crowd.summary();
  }
  const std::size_t time_wait = count_tcp_sockets(port, TcpState::time_wait);
  ASSERT_GE(time_wait, 1u) << "no TIME_WAIT on port " << port << ": the test proves nothing";

  const auto began = Clock::now();
  Server second = start_with(kEchoServer, {"--port", std::to_string(port)}, "second");
  const double restart_ms = ms_between(began, Clock::now());
  EXPECT_EQ(second.at().port, port);
  EXPECT_EQ(echo_check(second.at(), dir), "");
  second.expect_clean_stop();
  Figures().add("time_wait_sockets", time_wait).add("restart_ms", restart_ms);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, RestartInTimeWait, each_of({"tcp"}, kPolicies),
                         transport_policy_name);

}  // namespace
}  // namespace switchboard::test
