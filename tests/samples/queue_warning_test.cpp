// A pool full of long-lived connections serves --threads of them and leaves
// the rest waiting. The servers say so on stderr, once per episode, naming
// the policies that fit; fault_server (the samples' flags, an echo of lines)
// stands in for them. Idle connections hold their workers, as long-lived
// ones do.

#include <string>
#include <vector>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

constexpr std::string_view kAdvice = "long-lived connections want --policy reactor or threading\n";
constexpr std::string_view kOver = "no connection waits for a worker now\n";

Client served(const Listening& at, const std::string& line) {
  Client client = Client::tcp(at.host, at.port);
  client.send_all(line);
  EXPECT_EQ(client.recv_line(), line);
  return client;
}

Client waiting(const Listening& at, const std::string& line) {
  Client client = Client::tcp(at.host, at.port);
  client.send_all(line);
  return client;
}

TEST(SamplesQueueWarning, PoolSaysOncePerEpisodeThatConnectionsWaitForAWorker) {
  auto server =
      start_server(kFaultServer, {"--policy", "pool", "--threads", "2", "--port", "0",
                                  "--queue-wait-warning", "0.3", "--stats-interval", "0.1"});
  ChildProcess& process = server.process;
  std::vector<Client> clients;
  clients.push_back(served(server.listening, "first\n"));
  clients.push_back(served(server.listening, "second\n"));
  clients.push_back(waiting(server.listening, "third\n"));
  clients.push_back(waiting(server.listening, "fourth\n"));

  const auto warning = process.read_stderr_until(kAdvice);
  ASSERT_TRUE(warning) << "no warning; stderr: " << process.drain_stderr();
  EXPECT_NE(warning->find("\nwarning: 2 connections have waited over 0.3 s for one of 2 workers; "),
            std::string::npos)
      << *warning;

  // Once: ten stats lines later (a second by the server's clock, over three
  // times the threshold), still the one warning.
  for (int i = 0; i < 10; ++i) {
    const auto line = process.read_stderr_until("\n");
    ASSERT_TRUE(line) << "no stats line; stderr: " << process.drain_stderr();
    EXPECT_TRUE(line->starts_with("stats: ")) << *line;
  }

  // The first two leave: the waiting two are served, the queue empties, and
  // the server says the episode is over.
  clients.erase(clients.begin(), clients.begin() + 2);
  EXPECT_EQ(clients[0].recv_line(), "third\n");
  EXPECT_EQ(clients[1].recv_line(), "fourth\n");
  const auto over = process.read_stderr_until(kOver);
  ASSERT_TRUE(over) << "the end of the wait was not said; stderr: " << process.drain_stderr();
  EXPECT_EQ(over->find("warning"), std::string::npos) << *over;

  // A new episode is a new warning.
  clients.push_back(waiting(server.listening, "fifth\n"));
  const auto again = process.read_stderr_until(kAdvice);
  ASSERT_TRUE(again) << "no second warning; stderr: " << process.drain_stderr();
  EXPECT_NE(again->find("\nwarning: 1 connections have waited over 0.3 s for one of 2 workers; "),
            std::string::npos)
      << *again;

  clients.clear();
  expect_clean_stop(process);
}

// The other policies hold no connection behind a queue: nothing to say.
TEST(SamplesQueueWarning, ThreadingHasNoQueueToWarnAbout) {
  auto server =
      start_server(kFaultServer, {"--policy", "threading", "--threads", "2", "--port", "0",
                                  "--queue-wait-warning", "0.1", "--stats-interval", "0.05"});
  ChildProcess& process = server.process;
  std::vector<Client> clients;
  clients.push_back(served(server.listening, "first\n"));
  clients.push_back(served(server.listening, "second\n"));
  clients.push_back(waiting(server.listening, "third\n"));  // waits for a thread, unaccepted
  for (int i = 0; i < 10; ++i) {  // half a second by the server's clock: five thresholds
    const auto line = process.read_stderr_until("\n");
    ASSERT_TRUE(line) << "no stats line; stderr: " << process.drain_stderr();
    EXPECT_TRUE(line->starts_with("stats: ")) << *line;
  }
  clients.clear();
  expect_clean_stop(process);
}

}  // namespace
}  // namespace switchboard::test
