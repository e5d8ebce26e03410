// Unix socket paths: a stale socket file (nobody listening) is replaced; a
// live one is an error that names the path and leaves the live server alone.

#include <sys/socket.h>

#include <tuple>

#include "adversarial.hpp"

namespace switchboard::test {
namespace {

class UnixPath : public testing::TestWithParam<TransportPolicy> {
 protected:
  int type() const { return std::get<0>(GetParam()) == "unix" ? SOCK_STREAM : SOCK_DGRAM; }
  TempDir dir;
};

TEST_P(UnixPath, StaleSocketFileIsReplaced) {
  const std::string path = dir.file("server.sock");
  bind_unix(path, type());  // closed at once: the file stays behind, stale
  Server server = start(kEchoServer, std::get<0>(GetParam()), std::get<1>(GetParam()), dir);
  EXPECT_EQ(server.at().path, path);
  EXPECT_EQ(echo_check(server.at(), dir), "");
  server.expect_clean_stop();
}

TEST_P(UnixPath, LiveSocketIsAnErrorAndTheLiveServerGoesOn) {
  const auto& [proto, policy] = GetParam();
  Server live = start(kEchoServer, proto, policy, dir);
  ChildProcess second = ChildProcess::spawn(
      kEchoServer, {"--proto", proto, "--policy", policy.name, "--path", live.at().path});
  const auto status = second.wait(bound(kTimeout));
  ASSERT_TRUE(status) << "a second server on a live path did not exit";
  EXPECT_FALSE(status->exited(0)) << *status;
  EXPECT_EQ(status->signal, 0) << *status;
  const std::string error = second.drain_stderr();
  EXPECT_NE(error.find(live.at().path), std::string::npos) << "the error names no path: " << error;
  EXPECT_EQ(second.drain_stdout(), "") << "a server that did not start printed something";
  EXPECT_EQ(echo_check(live.at(), dir), "") << "the live server was disturbed";
  live.expect_clean_stop();
  Figures().add("second_exit_status", status->code);
}

INSTANTIATE_TEST_SUITE_P(Adversarial, UnixPath, each_of({"unix", "unix-dgram"}, kPolicies),
                         transport_policy_name);

}  // namespace
}  // namespace switchboard::test
