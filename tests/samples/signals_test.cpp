// Stopping a sample server: SIGINT/SIGTERM stop accepting at once, say what
// the drain does, let a request in flight finish (up to --drain-timeout) and
// exit 0; a second signal exits at once with 128 + the signal number; a
// signal that comes while the server is still starting stops it all the same.

#include <poll.h>
#include <signal.h>

#include <optional>
#include <string>
#include <system_error>

#include "samples_test.hpp"
#include "support/proc.hpp"

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
// (the listener closes) while a request is still in flight. timestamp_server
// reads lines: a partial line is a request in flight.
class SignalsWithRequestInFlight : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    auto args = server_args("tcp", GetParam(), dir);
    args.insert(args.end(), {"--drain-timeout", "60"});  // longer than any bound below
    server.emplace(start_server(kTimestampServer, args));
    client.emplace(connect_to(server->listening, dir));
    client->send_all("ping\n");  // the handler is running once this comes back
    ASSERT_TRUE(client->recv_line().ends_with("] ping\n"));
    client->send_all("abc");  // a partial line: a request in flight
  }

  TempDir dir;
  std::optional<ServerProcess> server;
  std::optional<Client> client;
};

TEST_P(SignalsWithRequestInFlight, FirstSignalSaysWhatTheDrainDoesAndLetsTheRequestFinish) {
  server->process.send_signal(SIGTERM);
  // Said at once, while the request is still in flight: Ctrl-C is never silent.
  const auto said = server->process.read_stderr_until("\n");
  ASSERT_TRUE(said) << "nothing on stderr after SIGTERM: " << server->process.drain_stderr();
  EXPECT_EQ(*said, "draining 1 connections, up to 60 s; again to quit\n");
  ASSERT_TRUE(wait_until_refused(server->listening)) << "still accepting after SIGTERM";
  client->send_all("def\n");
  EXPECT_TRUE(client->recv_line().ends_with("] abcdef\n"));
  client->shutdown_write();
  EXPECT_EQ(client->recv_until_eof(), "");
  const auto status = server->process.wait();
  ASSERT_TRUE(status) << "still running after its last request ended";
  EXPECT_TRUE(status->exited(0)) << *status;
  EXPECT_EQ(server->process.drain_stderr(), "") << "nothing was cut: nothing more to say";
}

TEST_P(SignalsWithRequestInFlight, SecondSignalExitsAtOnce) {
  server->process.send_signal(SIGTERM);
  // Read before probing the listener: a probe the server accepts would count.
  const auto said = server->process.read_stderr_until("\n");
  ASSERT_TRUE(said) << "nothing on stderr after SIGTERM: " << server->process.drain_stderr();
  EXPECT_EQ(*said, "draining 1 connections, up to 60 s; again to quit\n");
  ASSERT_TRUE(wait_until_refused(server->listening)) << "still accepting after SIGTERM";
  server->process.send_signal(SIGTERM);
  const auto status = server->process.wait();
  ASSERT_TRUE(status) << "still draining after a second SIGTERM";
  EXPECT_TRUE(status->exited(128 + SIGTERM)) << *status;
  EXPECT_EQ(server->process.drain_stderr(), "") << "the drain is announced once";
}

INSTANTIATE_TEST_SUITE_P(Samples, SignalsWithRequestInFlight,
                         testing::Values("threading", "pool", "forking", "reactor"));

class SignalsWithIdleConnection : public testing::TestWithParam<std::string> {};

// The samples' contract (README): on the first signal idle connections are closed at once, not
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

class SignalAtStartUp : public testing::TestWithParam<std::string> {};

// SIGTERM at the first moment the server holds it (it blocks SIGINT and
// SIGTERM before anything else; until then the default action would end it),
// long before its listening line: the signal waits for the watcher, the drain
// that begins before serve_forever() still ends it, and the process exits 0.
// Repeated, since where the server is when the signal lands varies run to run.
TEST_P(SignalAtStartUp, StopsCleanlyInBoundedTime) {
  TempDir dir;
  for (int run = 0; run < 10; ++run) {
    ChildProcess server = ChildProcess::spawn(kEchoServer, server_args("tcp", GetParam(), dir));
    const Deadline deadline(kTimeout);
    bool blocked = false;
    while (!blocked && !deadline.expired() && !server.wait(0ms)) {
      try {
        blocked = blocks_signal(server.pid(), SIGTERM);
      } catch (const std::exception&) {  // between exec and a readable /proc entry
      }
    }
    ASSERT_TRUE(blocked) << "run " << run << ": SIGTERM never blocked; " << server.drain_stderr();
    server.send_signal(SIGTERM);
    const auto status = server.wait(kTimeout);
    ASSERT_TRUE(status) << "run " << run << ": still running " << kTimeout.count()
                        << " ms after a SIGTERM at start-up; stdout: " << server.drain_stdout();
    EXPECT_TRUE(status->exited(0))
        << "run " << run << ": " << *status << "; stderr: " << server.drain_stderr();
  }
}

INSTANTIATE_TEST_SUITE_P(Samples, SignalAtStartUp,
                         testing::Values("serial", "threading", "pool", "forking", "reactor"));

}  // namespace
}  // namespace switchboard::test
