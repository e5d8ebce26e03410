// ThreadingMixIn under load: the max_threads cap and its overload choice,
// pruning of finished threads (CPython's test_threads_reaped), shutdown at
// the cap, and a thread for every datagram of a burst.

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
using Gated = GatedEcho<StreamRequestHandler>;

// --- threading -----------------------------------------------------------------------

// CPython's test_threads_reaped (issue #37193): finished threads are joined,
// not kept, so memory follows concurrency and not the requests served.
TEST(Threading, FinishedThreadsArePruned) {
  TempDir dir;
  ThreadingTCPServer server(Address("127.0.0.1", 0), handler<LineEcho<StreamRequestHandler>>);
  ServeThread serving(server);
  std::size_t most = 0;
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(roundtrip(server, dir, line_of(i)), line_of(i));
    most = std::max(most, server.tracked_threads());
  }
  EXPECT_LT(most, 10u) << "thread objects pile up";
  ASSERT_TRUE(serving.stop());
  server.server_close();
  EXPECT_EQ(server.tracked_threads(), 0u);
}

// CPython's variant, with handle_request() and connections that just close.
TEST(Threading, FinishedThreadsArePrunedUnderHandleRequest) {
  ThreadingTCPServer server(Address("127.0.0.1", 0), handler<StreamRequestHandler>);
  std::size_t most = 0;
  for (int i = 0; i < 100; ++i) {
    Client c = Client::stream(server.server_address());
    server.handle_request();
    // Once the client sees the end, the handler is done: its thread has
    // finished (or is about to) and the next request must prune it.
    ASSERT_EQ(c.next_eof(), 0);
    most = std::max(most, server.tracked_threads());
  }
  EXPECT_LT(most, 10u);
  server.server_close();
  EXPECT_EQ(server.tracked_threads(), 0u);
}

TEST(Threading, MaxThreadsWithRefuse) {
  constexpr int kClients = 6;
  auto state = std::make_shared<GateState>();
  auto hooks = std::make_shared<Hooks>();
  ServerOptions options;
  options.max_threads = 2;
  options.overload = Overload::refuse;
  Hooked<ThreadingTCPServer> server(hooks, Address("127.0.0.1", 0), factory_of<Gated>(state),
                                    options);
  ServeThread serving(server);
  std::vector<Client> clients;
  for (int i = 0; i < 2; ++i) {
    clients.push_back(Client::stream(server.server_address()));
    clients.back().send(line_of(i));
  }
  ASSERT_TRUE(state->entered.wait_for(2));
  for (int i = 2; i < kClients; ++i) {
    clients.push_back(Client::stream(server.server_address()));
    EXPECT_EQ(clients.back().next_eof(), 0) << "client " << i << " was not refused";
  }
  EXPECT_EQ(server.stats().refused, static_cast<std::uint64_t>(kClients - 2));
  EXPECT_EQ(hooks->refusals.load(), kClients - 2);
  EXPECT_EQ(server.active_threads(), 2u);
  state->gate.open();
  for (int i = 0; i < 2; ++i) EXPECT_EQ(clients[i].recv_line(), line_of(i));
  ASSERT_TRUE(state->done.wait_for(2));
  ASSERT_TRUE(serving.stop());
  server.server_close();
  EXPECT_EQ(state->entered.get() + static_cast<int>(server.stats().refused), kClients);
}

// refuse_request() may answer before the refused connection is closed.
class BusyReplyServer : public ThreadingTCPServer {
 public:
  using ThreadingTCPServer::ThreadingTCPServer;
  ~BusyReplyServer() override {
    shutdown();
    server_close();
  }

 protected:
  void refuse_request(Request& request) override { request.connection.send_all("busy\n"); }
};

TEST(Threading, RefuseRequestMayAnswerFirst) {
  auto state = std::make_shared<GateState>();
  ServerOptions options;
  options.max_threads = 1;
  options.overload = Overload::refuse;
  BusyReplyServer server(Address("127.0.0.1", 0), factory_of<Gated>(state), options);
  ServeThread serving(server);
  Client first = Client::stream(server.server_address());
  first.send("first\n");
  ASSERT_TRUE(state->entered.wait_for(1));
  Client second = Client::stream(server.server_address());
  EXPECT_EQ(second.recv_line(), "busy\n");
  EXPECT_EQ(second.next_eof(), 0);
  EXPECT_EQ(server.stats().refused, 1u);
  state->gate.open();
  EXPECT_EQ(first.recv_line(), "first\n");
  ASSERT_TRUE(serving.stop());
}

TEST(Threading, MaxThreadsWithBlockWaitsAndServesAll) {
  constexpr int kClients = 4;
  auto state = std::make_shared<GateState>();
  ServerOptions options;
  options.max_threads = 1;
  options.overload = Overload::block;
  ThreadingTCPServer server(Address("127.0.0.1", 0), factory_of<Gated>(state), options);
  ServeThread serving(server);
  std::vector<Client> clients;
  clients.push_back(Client::stream(server.server_address()));
  clients.back().send(line_of(0));
  ASSERT_TRUE(state->entered.wait_for(1));
  for (int i = 1; i < kClients; ++i) {
    clients.push_back(Client::stream(server.server_address()));
    clients.back().send(line_of(i));
  }
  // The second is accepted and waits for the cap; the rest wait in the backlog.
  ASSERT_TRUE(wait_until([&] { return server.stats().total_requests == 2; }));
  EXPECT_EQ(server.active_threads(), 1u);
  EXPECT_EQ(state->entered.get(), 1);
  state->gate.open();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(clients[i].recv_line(), line_of(i));
  EXPECT_EQ(server.stats().refused, 0u);
  EXPECT_EQ(server.stats().max_active, 1u);
  ASSERT_TRUE(serving.stop());
}

// shutdown() wakes an acceptor waiting at the thread cap.
TEST(Threading, ShutdownWakesTheAcceptorWaitingAtTheCap) {
  auto state = std::make_shared<GateState>();
  ServerOptions options;
  options.max_threads = 1;
  options.overload = Overload::block;
  ThreadingTCPServer server(Address("127.0.0.1", 0), factory_of<Gated>(state), options);
  ServeThread serving(server);
  Client first = Client::stream(server.server_address());
  first.send("first\n");
  ASSERT_TRUE(state->entered.wait_for(1));
  Client waiting = Client::stream(server.server_address());
  ASSERT_TRUE(wait_until([&] { return server.stats().total_requests == 2; }));
  ASSERT_TRUE(serving.stop()) << "shutdown() left the acceptor waiting at the cap";
  EXPECT_EQ(waiting.next_eof(), 0);
  EXPECT_EQ(server.stats().refused, 1u);
  state->gate.open();
  EXPECT_EQ(first.recv_line(), "first\n");
  server.server_close();
}

// block_on_close = false: server_close() does not wait for the handlers.
TEST(Threading, ServerCloseWithoutBlockOnCloseReturnsAtOnce) {
  auto state = std::make_shared<GateState>();
  ServerOptions options;
  options.block_on_close = false;
  auto server = std::make_unique<ThreadingTCPServer>(Address("127.0.0.1", 0),
                                                     factory_of<Gated>(state), options);
  auto serving = std::make_unique<ServeThread>(*server);
  Client c = Client::stream(server->server_address());
  c.send("late\n");
  ASSERT_TRUE(state->entered.wait_for(1));
  ASSERT_TRUE(serving->stop());
  auto closing = std::async(std::launch::async, [&] { server->server_close(); });
  EXPECT_EQ(closing.wait_for(kLimit), std::future_status::ready);
  EXPECT_EQ(server->active_threads(), 1u);
  state->gate.open();
  EXPECT_EQ(c.recv_line(), "late\n");
  serving.reset();
  server.reset();  // the destructor joins the handler thread
  EXPECT_EQ(state->done.get(), 1);
}

// ThreadingMixIn's promise: a thread for each datagram, all at once. A burst
// of handlers that each wait until every one of the burst has started can only
// finish if none waits behind another. The first burst gets new threads; the
// second is handed to those, idle by then, however it is batched.
struct AllAtOnce : switchboard::DatagramRequestHandler {
  explicit AllAtOnce(std::shared_ptr<Count> c) : entered(std::move(c)) {}
  void handle() override {
    entered->add();
    const int burst = packet()[0] - '0';
    wfile.write(entered->wait_for(burst * kBurst) ? "together" : "alone");
  }
  static constexpr int kBurst = 12;
  std::shared_ptr<Count> entered;
};

TEST(Threading, EveryDatagramOfABurstRunsAtOnce) {
  for (int i = 0; i < 10 && !HasFailure(); ++i) {
    auto entered = std::make_shared<Count>();
    switchboard::ThreadingUDPServer server(Address("127.0.0.1", 0), factory_of<AllAtOnce>(entered));
    ServeThread serving(server);
    Client c = Client::datagram(server.server_address());
    for (const char* burst : {"1", "2"}) {
      for (int k = 0; k < AllAtOnce::kBurst; ++k) c.send(burst);
      for (int k = 0; k < AllAtOnce::kBurst; ++k)
        EXPECT_EQ(c.recv(), "together")
            << "try " << i << ", burst " << burst << ": a datagram waited for another's thread";
    }
    ASSERT_TRUE(serving.stop());
  }
}

}  // namespace
}  // namespace sbt
