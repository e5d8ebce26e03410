// custom_handler, the sample a newcomer copies: it must keep working, and
// its one-call main() (switchboard::cli) gives it every common flag.

#include <string>
#include <tuple>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

TEST(SamplesCustomHandler, AnswersInUpperCase) {
  auto server = start_server(kCustomHandler, {"--port", "0"});
  EXPECT_EQ(server.listening.url, "tcp://127.0.0.1:" + std::to_string(server.listening.port));
  Client client = Client::tcp(server.listening.host, server.listening.port);
  client.send_all("hello, world\n");
  EXPECT_EQ(client.recv_line(), "HELLO, WORLD\n");
  client.shutdown_write();
  EXPECT_EQ(client.recv_until_eof(), "");
  expect_clean_stop(server.process);
}

// The flags the other samples take: transport, policy, sizes, the drain.
class CustomHandlerFlags : public testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(CustomHandlerFlags, AnswersInUpperCaseUnderEveryPolicy) {
  const auto& [proto, policy] = GetParam();
  TempDir dir;
  auto args = server_args(proto, policy, dir);
  if (policy == "pool" || policy == "reactor") args.insert(args.end(), {"--threads", "2"});
  args.insert(args.end(), {"--max-line", "64", "--drain-timeout", "1"});
  auto server = start_server(kCustomHandler, args);
  EXPECT_EQ(server.listening.scheme, proto);
  Client client = connect_to(server.listening, dir);
  client.send_all("hello\n");
  EXPECT_EQ(client.recv_line(), "HELLO\n");
  client.shutdown_write();
  EXPECT_EQ(client.recv_until_eof(), "");
  expect_clean_stop(server.process);
}

INSTANTIATE_TEST_SUITE_P(
    Samples, CustomHandlerFlags,
    testing::Combine(testing::Values("tcp", "unix"),
                     testing::Values("serial", "threading", "pool", "forking", "reactor")),
    [](const auto& p) { return std::get<0>(p.param) + "_" + std::get<1>(p.param); });

}  // namespace
}  // namespace switchboard::test
