// The hardening flags seen from outside: --max-connections with either
// overload choice, --first-request-timeout, and --stats-interval's lines.

#include <string>
#include <vector>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

struct StreamCase {
  std::string proto;
  std::string policy;
};

class MaxConnectionsFlag : public testing::TestWithParam<StreamCase> {};

// One connection held open; the next is refused at once (it sees the end of
// the stream, not a hang); once the first closes, clients are served again.
TEST_P(MaxConnectionsFlag, RefusePastTheLimitThenRecover) {
  TempDir dir;
  auto args = server_args(GetParam().proto, GetParam().policy, dir);
  args.insert(args.end(), {"--max-connections", "1", "--overload", "refuse"});
  auto server = start_server(kEchoServer, args);
  {
    Client held = connect_to(server.listening, dir);
    held.send_all("held\n");
    ASSERT_EQ(held.recv_line(), "held\n");
    Client extra = connect_to(server.listening, dir);
    EXPECT_EQ(extra.recv_until_eof(), "") << "the connection past the limit was served";
    held.shutdown_write();
    EXPECT_EQ(held.recv_until_eof(), "");
  }
  // The held connection's end reaches the server a moment after ours: retry
  // while it is still counted (each refusal is immediate, so this is bounded).
  std::string reply;
  for (int attempt = 0; attempt < 200 && reply.empty(); ++attempt) {
    Client next = connect_to(server.listening, dir);
    next.send_all("again\n");
    reply = next.recv_line();
  }
  EXPECT_EQ(reply, "again\n");
  expect_clean_stop(server.process);
}

INSTANTIATE_TEST_SUITE_P(Samples, MaxConnectionsFlag,
                         testing::Values(StreamCase{"tcp", "threading"}, StreamCase{"tcp", "pool"},
                                         StreamCase{"tcp", "forking"}, StreamCase{"tcp", "reactor"},
                                         StreamCase{"unix", "threading"}),
                         [](const auto& p) { return p.param.proto + "_" + p.param.policy; });

class FirstRequestTimeoutFlag : public testing::TestWithParam<std::string> {};

// A line server (echo_server answers bytes at once: any byte is a request).
TEST_P(FirstRequestTimeoutFlag, ClosesAClientThatNeverSendsARequest) {
  TempDir dir;
  auto args = server_args("tcp", GetParam(), dir);
  args.insert(args.end(), {"--first-request-timeout", "0.2"});
  auto server = start_server(kTimestampServer, args);
  Client dawdler = connect_to(server.listening, dir);
  dawdler.send_all("no newline");
  EXPECT_EQ(dawdler.recv_until_eof(), "") << "a partial first request was answered";
  Client prompt = connect_to(server.listening, dir);
  prompt.send_all("prompt\n");
  EXPECT_TRUE(prompt.recv_line().ends_with("] prompt\n"));
  expect_clean_stop(server.process);
}

INSTANTIATE_TEST_SUITE_P(Samples, FirstRequestTimeoutFlag, testing::Values("threading", "reactor"));

TEST(StatsIntervalFlag, PrintsTheCountersOnStderr) {
  TempDir dir;
  auto args = server_args("tcp", "pool", dir);
  args.insert(args.end(), {"--stats-interval", "0.05", "--threads", "3"});
  auto server = start_server(kEchoServer, args);
  {
    Client c = connect_to(server.listening, dir);
    c.send_all("x\n");
    ASSERT_EQ(c.recv_line(), "x\n");
  }
  // Lines keep coming: the first that has seen the connection.
  const auto err = server.process.read_stderr_until("stats: total=1 ");
  ASSERT_TRUE(err) << server.process.drain_stderr();
  const auto rest = server.process.read_stderr_until("\n");
  ASSERT_TRUE(rest);
  EXPECT_NE(rest->find(" threads=3 "), std::string::npos) << *rest;
  EXPECT_NE(rest->find(" peak_connections=1 "), std::string::npos) << *rest;
  expect_clean_stop(server.process);
}

}  // namespace
}  // namespace switchboard::test
