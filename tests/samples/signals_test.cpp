// Stopping a sample server: SIGINT/SIGTERM stop accepting at once, let a
// request in flight finish (up to --drain-timeout) and exit 0; a second
// signal exits at once with 128 + the signal number.

#include <poll.h>
#include <signal.h>

#include <optional>
#include <string>
#include <system_error>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

// True once a connect to `l` is refused: the server closed its listener,
// which it does only after taking the first signal.
bool wait_until_refused(const Listening& l, Duration timeout = kTimeout) {
  const Deadline deadline(timeout);
  for (int attempt = 0; attempt < 2000 && !deadline.expired(); ++attempt) {
    try {
      Client probe = Client::tcp(l.host, l.port, 1s);
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::connection_refused) return true;
    }
    ::poll(nullptr, 0, 5);  // a short breath between probes; the deadline bounds the wait
  }
  return false;
}

TEST(SamplesSignals, SigintStopsCleanly) {
  TempDir dir;
  auto server = start_server(kEchoServer, server_args("tcp", "threading", dir));
  expect_clean_stop(server.process, SIGINT);
}

// Policies whose handlers run off the serving thread, so that serving stops
// (the listener closes) while a request is still in flight.
class SignalsWithRequestInFlight : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto args = server_args("tcp", GetParam(), dir);
    args.insert(args.end(), {"--drain-timeout", "60"});  // longer than any bound below
    server.emplace(start_server(kEchoServer, args));
    client.emplace(connect_to(server->listening, dir));
    client->send_all("ping\n");  // the handler is running once this comes back
    ASSERT_EQ(client->recv_line(), "ping\n");
    client->send_all("abc");  // a partial line: a request in flight
  }

  TempDir dir;
  std::optional<ServerProcess> server;
  std::optional<Client> client;
};

TEST_P(SignalsWithRequestInFlight, FirstSignalLetsTheRequestFinish) {
  server->process.send_signal(SIGTERM);
  ASSERT_TRUE(wait_until_refused(server->listening)) << "still accepting after SIGTERM";
  client->send_all("def\n");
  EXPECT_EQ(client->recv_line(), "abcdef\n");
  client->shutdown_write();
  EXPECT_EQ(client->recv_until_eof(), "");
  const auto status = server->process.wait();
  ASSERT_TRUE(status) << "still running after its last request ended";
  EXPECT_TRUE(status->exited(0)) << *status << "; stderr: " << server->process.drain_stderr();
}

TEST_P(SignalsWithRequestInFlight, SecondSignalExitsAtOnce) {
  server->process.send_signal(SIGTERM);
  ASSERT_TRUE(wait_until_refused(server->listening)) << "still accepting after SIGTERM";
  server->process.send_signal(SIGTERM);
  const auto status = server->process.wait();
  ASSERT_TRUE(status) << "still draining after a second SIGTERM";
  EXPECT_TRUE(status->exited(128 + SIGTERM)) << *status;
}

INSTANTIATE_TEST_SUITE_P(Samples, SignalsWithRequestInFlight,
                         testing::Values("threading", "pool", "forking", "reactor"));

class SignalsWithIdleConnection : public testing::TestWithParam<std::string> {};

// DESIGN.md: on the first signal idle connections are closed at once, not
// after the drain deadline.
TEST_P(SignalsWithIdleConnection, IdleConnectionIsClosedAtOnce) {
  TempDir dir;
  auto args = server_args("tcp", GetParam(), dir);
  args.insert(args.end(), {"--drain-timeout", "60"});  // longer than any bound below
  auto server = start_server(kEchoServer, args);
  Client client = connect_to(server.listening, dir);
  client.send_all("ping\n");
  ASSERT_EQ(client.recv_line(), "ping\n");

  server.process.send_signal(SIGTERM);
  EXPECT_EQ(client.recv_until_eof(), "");
  const auto status = server.process.wait();
  ASSERT_TRUE(status) << "still draining an idle connection";
  EXPECT_TRUE(status->exited(0)) << *status;
}

INSTANTIATE_TEST_SUITE_P(Samples, SignalsWithIdleConnection,
                         testing::Values("serial", "threading", "pool", "forking", "reactor"));

}  // namespace
}  // namespace switchboard::test
