// Limits and their counters: max_connections with either overload choice (the
// forking policy counts a connection until its child exits), the
// first-request deadline, and the figures stats() reports.

#include <sstream>
#include <string>
#include <vector>

#include "helpers.hpp"

namespace sbt {
namespace {

using switchboard::handler;
using switchboard::Overload;
using switchboard::StreamRequestHandler;

// Echoes lines until the client closes: a client holds its connection open.
struct Lines : StreamRequestHandler {
  void handle() override {
    for (auto line = rfile.readline(); !line.empty(); line = rfile.readline()) wfile.write(line);
  }
};

template <class S>
class MaxConnections : public ::testing::Test {};
using ConcurrentStreamServers =
    ::testing::Types<switchboard::ThreadingTCPServer, switchboard::ThreadPoolTCPServer,
                     switchboard::ForkingTCPServer, switchboard::ReactorTCPServer,
                     switchboard::ThreadingUnixStreamServer,
                     switchboard::ThreadPoolUnixStreamServer, switchboard::ForkingUnixStreamServer,
                     switchboard::ReactorUnixStreamServer>;
TYPED_TEST_SUITE(MaxConnections, ConcurrentStreamServers, ServerNames);

ServerOptions limited(std::size_t max_connections, Overload overload) {
  ServerOptions options;
  options.max_connections = max_connections;
  options.overload = overload;
  options.threads = 4;  // the pool: room for more than the limit
  return options;
}

// At the limit, refuse accepts and closes at once; a connection that closes
// makes room again.
TYPED_TEST(MaxConnections, RefuseClosesTheConnectionPastTheLimit) {
  using S = TypeParam;
  TempDir dir;
  S server(bind_arg<S>(dir), handler<Lines>, limited(2, Overload::refuse));
  ServeThread serving(server);
  std::vector<Client> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(Client::stream(server.server_address()));
    held.back().send("held\n");
    ASSERT_EQ(held.back().recv_line(), "held\n");
  }
  Client extra = Client::stream(server.server_address());
  EXPECT_EQ(extra.next_eof(), 0) << "the connection past the limit was not refused";
  EXPECT_EQ(server.stats().refused, 1u);
  EXPECT_EQ(server.stats().connections, 2u);

  // Its handler (or child) ends: room for one. shutdown(), since a forked
  // child of this test process holds copies of the test's client sockets.
  held.back().shutdown_write();
  held.pop_back();
  ASSERT_TRUE(wait_until([&] { return server.stats().connections == 1; }))
      << "connections = " << server.stats().connections;
  EXPECT_EQ(roundtrip(server, dir), "hello world\n");
  EXPECT_EQ(server.stats().peak_connections, 2u);
  ASSERT_TRUE(serving.stop());
}

// At the limit, block accepts nothing more: the next client waits in the
// backlog and is served once a connection closes.
TYPED_TEST(MaxConnections, BlockWaitsForAConnectionToClose) {
  using S = TypeParam;
  TempDir dir;
  S server(bind_arg<S>(dir), handler<Lines>, limited(1, Overload::block));
  ServeThread serving(server);
  auto first = std::make_unique<Client>(Client::stream(server.server_address()));
  first->send("first\n");
  ASSERT_EQ(first->recv_line(), "first\n");
  Client second = Client::stream(server.server_address());  // the kernel backlog takes it
  second.send("second\n");
  first->shutdown_write();
  first.reset();
  EXPECT_EQ(second.recv_line(), "second\n");
  EXPECT_EQ(server.stats().peak_connections, 1u) << "accepted past the limit";
  EXPECT_EQ(server.stats().refused, 0u);
  ASSERT_TRUE(serving.stop());
}

// shutdown() wakes an acceptor waiting for room.
TEST(MaxConnections, ShutdownWakesTheAcceptorWaitingForRoom) {
  switchboard::ThreadingTCPServer server(Address("127.0.0.1", 0), handler<Lines>,
                                         limited(1, Overload::block));
  ServeThread serving(server);
  Client first = Client::stream(server.server_address());
  first.send("first\n");
  ASSERT_EQ(first.recv_line(), "first\n");
  Client second = Client::stream(server.server_address());  // makes the listener readable
  EXPECT_TRUE(serving.stop());
}

// A client that connects and never completes its first request is cut at the
// first-request deadline; one that sent its first request in time is not,
// however long it then stays (up to the idle timeout).
TEST(FirstRequestTimeout, EndsAClientThatNeverCompletesItsFirstRequest) {
  ServerOptions options;
  options.first_request_timeout = Seconds{0.2};
  switchboard::ThreadingTCPServer server(Address("127.0.0.1", 0), handler<Lines>, options);
  ServeThread serving(server);
  Client prompt = Client::stream(server.server_address());
  prompt.send("prompt\n");
  ASSERT_EQ(prompt.recv_line(), "prompt\n");
  Client dawdler = Client::stream(server.server_address());  // connected after `prompt`
  dawdler.send("no newline yet");
  EXPECT_EQ(dawdler.next_eof(), 0) << "the dawdler was not cut";
  ASSERT_TRUE(wait_until([&] { return server.stats().timed_out == 1; }));
  // The dawdler's deadline has passed, so the prompt client's has too.
  prompt.send("still here\n");
  EXPECT_EQ(prompt.recv_line(), "still here\n");
  EXPECT_EQ(server.stats().handler_errors, 0u);
  ASSERT_TRUE(serving.stop());
}

TEST(Stats, ThreadsFollowThePolicy) {
  auto state = std::make_shared<GateState>();
  switchboard::ThreadingTCPServer threading(Address("127.0.0.1", 0),
                                            factory_of<GatedEcho<StreamRequestHandler>>(state));
  ServeThread serving(threading);
  Client a = Client::stream(threading.server_address());
  Client b = Client::stream(threading.server_address());
  ASSERT_TRUE(state->entered.wait_for(2));
  EXPECT_EQ(threading.stats().threads, 2u);
  EXPECT_EQ(threading.stats().connections, 2u);
  state->gate.open();
  ASSERT_TRUE(serving.stop());

  ServerOptions options;
  options.threads = 3;
  switchboard::ThreadPoolTCPServer pool(Address("127.0.0.1", 0), handler<Lines>, options);
  EXPECT_EQ(pool.stats().threads, 3u);

  // The reactor: its loops, and a worker once a blocking handler needs one
  // (more as more run at once, up to options.threads).
  options.loops = 2;
  switchboard::ReactorTCPServer reactor(Address("127.0.0.1", 0), handler<Lines>, options);
  EXPECT_EQ(reactor.stats().threads, 2u);
  ServeThread reactor_serving(reactor);
  EXPECT_EQ(roundtrip(reactor, TempDir()), "hello world\n");
  EXPECT_EQ(reactor.stats().threads, 2u + 1u);
  ASSERT_TRUE(reactor_serving.stop());
}

TEST(Stats, PrintsAsKeyValuePairs) {
  switchboard::ServerStats stats;
  stats.total_requests = 7;
  stats.connections = 3;
  stats.timed_out = 2;
  std::ostringstream out;
  out << stats;
  const std::string line = out.str();
  EXPECT_EQ(line.rfind("total=7 connections=3 ", 0), 0u) << line;
  EXPECT_NE(line.find(" timed_out=2 "), std::string::npos) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
}

}  // namespace
}  // namespace sbt
