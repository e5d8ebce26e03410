// custom_handler, the sample a newcomer copies: it must keep working.

#include <string>

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

}  // namespace
}  // namespace switchboard::test
