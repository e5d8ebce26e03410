// coroutine_echo, the sample a newcomer copies for the reactor: it must keep
// working, with many connections open at once on one loop.

#include <string>
#include <vector>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

TEST(SamplesCoroutineEcho, EchoesOnManyOpenConnections) {
  auto server = start_server(kCoroutineEcho, {"--port", "0", "--loops", "1"});
  EXPECT_EQ(server.listening.url, "tcp://127.0.0.1:" + std::to_string(server.listening.port));
  std::vector<Client> clients;
  for (int i = 0; i < 50; ++i)
    clients.push_back(Client::tcp(server.listening.host, server.listening.port));
  for (int i = 49; i >= 0; --i) {
    const std::string line = "client " + std::to_string(i) + "\n";
    clients[i].send_all(line);
    EXPECT_EQ(clients[i].recv_line(), line);
  }
  clients.front().send_all("last, no newline");
  clients.front().shutdown_write();
  EXPECT_EQ(clients.front().recv_until_eof(), "last, no newline");
  expect_clean_stop(server.process);
}

}  // namespace
}  // namespace switchboard::test
