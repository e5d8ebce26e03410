// What every concurrent policy shares: the close deadline for requests in
// flight, the one admission limit (threads + max_queued) of the pool and the
// reactor's blocking handlers, and block_on_close.

#include <poll.h>

#include <cerrno>
#include <future>
#include <string>
#include <vector>

#include "helpers.hpp"

namespace sbt {
namespace {

using switchboard::handler;
using switchboard::Overload;
using switchboard::StreamRequestHandler;
using switchboard::ThreadingTCPServer;
using switchboard::ThreadPoolTCPServer;
using Gated = GatedEcho<StreamRequestHandler>;

// --- close deadline, threading and pool ---------------------------------------------------

struct EnteredEcho : StreamRequestHandler {
  explicit EnteredEcho(std::shared_ptr<Count> c) : entered(std::move(c)) {}
  void handle() override {
    entered->add();
    for (std::string line; !(line = rfile.readline()).empty();) wfile.write(line);
  }
  std::shared_ptr<Count> entered;
};

template <class S>
class CloseDeadline : public ::testing::Test {};
using ThreadedTcp =
    ::testing::Types<ThreadingTCPServer, ThreadPoolTCPServer, switchboard::ReactorTCPServer>;
TYPED_TEST_SUITE(CloseDeadline, ThreadedTcp, ServerNames);

// A request in flight (half a line) at server_close(): it gets until
// close_timeout, then its connection is shut down so that the handler ends
// and is joined.
TYPED_TEST(CloseDeadline, ServerCloseForcesRequestsInFlightClosedAfterTheTimeout) {
  auto entered = std::make_shared<Count>();
  ServerOptions options;
  options.close_timeout = Seconds{0.1};
  options.threads = 1;
  TypeParam server(Address("127.0.0.1", 0), factory_of<EnteredEcho>(entered), options);
  ServeThread serving(server);
  Client slow = Client::stream(server.server_address());
  slow.send("x\nhalf a li");  // one segment: once "x\n" is back, the handler holds the rest
  ASSERT_EQ(slow.recv_line(), "x\n");
  ASSERT_TRUE(serving.stop());
  auto closing = std::async(std::launch::async, [&] { server.server_close(); });
  ASSERT_EQ(closing.wait_for(kLimit), std::future_status::ready)
      << "server_close() did not force the request in flight to end";
  const int e = slow.next_eof();
  EXPECT_TRUE(e == 0 || e == ECONNRESET) << (e == -1 ? "the cut line was echoed" : "errno ") << e;
}

// An idle connection (its handler waits for the next request) ends at once at
// server_close(), long before close_timeout.
TYPED_TEST(CloseDeadline, ServerCloseEndsIdleConnectionsAtOnce) {
  auto entered = std::make_shared<Count>();
  ServerOptions options;
  options.close_timeout = Seconds{60};  // "at once" must not mean "at the deadline"
  options.threads = 1;
  TypeParam server(Address("127.0.0.1", 0), factory_of<EnteredEcho>(entered), options);
  ServeThread serving(server);
  Client idle = Client::stream(server.server_address());
  idle.send("x\n");
  ASSERT_EQ(idle.recv_line(), "x\n");  // served, and now waiting for the next line
  ASSERT_TRUE(serving.stop());
  auto closing = std::async(std::launch::async, [&] { server.server_close(); });
  EXPECT_EQ(idle.next_eof(), 0);
  ASSERT_EQ(closing.wait_for(kLimit), std::future_status::ready);
}

// --- one admission limit: the pool and the reactor's blocking handlers ------------------

template <class S>
class BlockingPlaces : public ::testing::Test {};
using PoolAndReactor = ::testing::Types<ThreadPoolTCPServer, switchboard::ReactorTCPServer>;
TYPED_TEST_SUITE(BlockingPlaces, PoolAndReactor, ServerNames);

// threads + max_queued blocking handlers are served or waiting; with
// `refuse` the rest are refused at once and counted, and with two threads at
// most two run.
TYPED_TEST(BlockingPlaces, ThreadsPlusMaxQueuedAreServedOrWaitingAndTheRestRefused) {
  constexpr int kClients = 7;
  auto state = std::make_shared<GateState>();
  ServerOptions options;
  options.threads = 2;
  options.max_queued = 2;
  options.loops = 1;
  options.overload = Overload::refuse;
  TypeParam server(Address("127.0.0.1", 0), factory_of<Gated>(state), options);
  ServeThread serving(server);
  std::vector<Client> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(Client::stream(server.server_address()));
    clients.back().send(line_of(i));
    if (i < 2) {
      ASSERT_TRUE(state->entered.wait_for(i + 1));  // both threads busy, in order
    }
  }
  ASSERT_TRUE(wait_until([&] { return server.stats().total_requests == kClients; }));
  for (int i = 4; i < kClients; ++i) {
    const int e = clients[i].next_eof();  // a reset when its line was unread at the close
    EXPECT_TRUE(e == 0 || e == ECONNRESET) << "client " << i << " was not refused: " << e;
  }
  EXPECT_EQ(server.stats().refused, static_cast<std::uint64_t>(kClients - 4));
  EXPECT_EQ(server.stats().queued, 2u);
  EXPECT_EQ(state->entered.get(), 2) << "more handlers ran than threads";
  state->gate.open();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(clients[i].recv_line(), line_of(i));
  ASSERT_TRUE(state->done.wait_for(4));
  EXPECT_EQ(server.stats().max_active, 2u);
  ASSERT_TRUE(serving.stop());
}

// block_on_close off: server_close() returns at once under every policy that
// runs handlers beside the serving thread; the destructor waits for them.
template <class S>
class NoBlockOnClose : public ::testing::Test {};
using Concurrent = ::testing::Types<ThreadingTCPServer, ThreadPoolTCPServer,
                                    switchboard::ForkingTCPServer, switchboard::ReactorTCPServer>;
TYPED_TEST_SUITE(NoBlockOnClose, Concurrent, ServerNames);

struct SlowLine : StreamRequestHandler {
  void handle() override {
    const std::string line = rfile.readline();
    wfile.write("started\n");
    wfile.flush();
    server().wait_for_close_deadline(Seconds{60});  // until the destructor's deadline
    wfile.write(line);
  }
};

TYPED_TEST(NoBlockOnClose, ServerCloseReturnsAtOnceAndTheDestructorWaits) {
  ServerOptions options;
  options.block_on_close = false;
  options.close_timeout = Seconds{0.5};
  auto server = std::make_unique<TypeParam>(Address("127.0.0.1", 0), handler<SlowLine>, options);
  auto serving = std::make_unique<ServeThread>(*server);
  Client c = Client::stream(server->server_address());
  c.send("late\n");
  ASSERT_EQ(c.recv_line(), "started\n");
  ASSERT_TRUE(serving->stop());
  auto closing = std::async(std::launch::async, [&] { server->server_close(); });
  EXPECT_EQ(closing.wait_for(std::chrono::seconds(1)), std::future_status::ready)
      << "server_close() waited for the handler";
  pollfd open{c.fd(), POLLIN, 0};
  EXPECT_EQ(::poll(&open, 1, 0), 0) << "server_close() ended the request in flight";
  serving.reset();
  auto destroying = std::async(std::launch::async, [&] { server.reset(); });
  EXPECT_EQ(destroying.wait_for(kLimit), std::future_status::ready)
      << "the destructor did not end the handler at its deadline";
  const int e = c.next_eof();
  EXPECT_TRUE(e == 0 || e == ECONNRESET)
      << (e == -1 ? "the handler's line came after the cut" : "errno ") << e;
}

}  // namespace
}  // namespace sbt
