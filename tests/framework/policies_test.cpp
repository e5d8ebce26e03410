// The policies under load: the pool's bounded queue and its overload choice,
// the threading cap, pruning of finished threads (CPython's
// test_threads_reaped), and what server_close() does with requests in flight.

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

std::string line_of(int i) { return std::to_string(i) + "\n"; }

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

// --- the pool -----------------------------------------------------------------------------

TEST(Pool, WorkersFollowTheOption) {
  ServerOptions options;
  options.threads = 3;
  ThreadPoolTCPServer three(Address("127.0.0.1", 0), handler<StreamRequestHandler>, options);
  EXPECT_EQ(three.workers(), 3u);
  ThreadPoolTCPServer some(Address("127.0.0.1", 0), handler<StreamRequestHandler>);
  EXPECT_GE(some.workers(), 2u);
  options.threads = 0;
  EXPECT_THROW(
      { ThreadPoolTCPServer s(Address("127.0.0.1", 0), handler<StreamRequestHandler>, options); },
      std::invalid_argument);
  options.threads = 1;
  options.max_queued = 0;
  EXPECT_THROW(
      { ThreadPoolTCPServer s(Address("127.0.0.1", 0), handler<StreamRequestHandler>, options); },
      std::invalid_argument);
}

// One worker blocked, two queued (max_queued is exact), the rest refused at once.
TEST(Pool, RefuseWhenTheQueueIsFull) {
  constexpr int kClients = 8;
  auto state = std::make_shared<GateState>();
  auto hooks = std::make_shared<Hooks>();
  ServerOptions options;
  options.threads = 1;
  options.max_queued = 2;
  options.overload = Overload::refuse;
  Hooked<ThreadPoolTCPServer> server(hooks, Address("127.0.0.1", 0), factory_of<Gated>(state),
                                     options);
  ServeThread serving(server);
  std::vector<Client> clients;
  clients.push_back(Client::stream(server.server_address()));
  clients.back().send(line_of(0));
  ASSERT_TRUE(state->entered.wait_for(1));  // the only worker is busy
  for (int i = 1; i < 3; ++i) {
    clients.push_back(Client::stream(server.server_address()));
    clients.back().send(line_of(i));
  }
  ASSERT_TRUE(wait_until([&] { return server.stats().queued == 2; }))
      << "queued = " << server.stats().queued;
  for (int i = 3; i < kClients; ++i) {
    clients.push_back(Client::stream(server.server_address()));
    EXPECT_EQ(clients.back().next_eof(), 0) << "client " << i << " was not refused";
  }
  EXPECT_EQ(server.stats().queued, 2u);
  EXPECT_EQ(server.stats().refused, static_cast<std::uint64_t>(kClients - 3));
  EXPECT_EQ(hooks->refusals.load(), kClients - 3);
  state->gate.open();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(clients[i].recv_line(), line_of(i));
  ASSERT_TRUE(state->done.wait_for(3));
  ASSERT_TRUE(serving.stop());
  server.server_close();
  const auto stats = server.stats();
  EXPECT_EQ(state->entered.get() + static_cast<int>(stats.refused), kClients);
  EXPECT_EQ(stats.total_requests, static_cast<std::uint64_t>(kClients));
  EXPECT_EQ(stats.queued, 0u);
}

// Back-pressure: the acceptor stops at a full queue; everything is served once
// the worker is free.
TEST(Pool, BlockWhenTheQueueIsFull) {
  constexpr int kClients = 6;
  auto state = std::make_shared<GateState>();
  ServerOptions options;
  options.threads = 1;
  options.max_queued = 2;
  options.overload = Overload::block;
  ThreadPoolTCPServer server(Address("127.0.0.1", 0), factory_of<Gated>(state), options);
  ServeThread serving(server);
  std::vector<Client> clients;
  clients.push_back(Client::stream(server.server_address()));
  clients.back().send(line_of(0));
  ASSERT_TRUE(state->entered.wait_for(1));
  for (int i = 1; i < kClients; ++i) {
    clients.push_back(Client::stream(server.server_address()));
    clients.back().send(line_of(i));
  }
  // One served, two queued, the fourth accepted and waiting for room.
  ASSERT_TRUE(wait_until([&] { return server.stats().total_requests == 4; }))
      << "total = " << server.stats().total_requests;
  EXPECT_EQ(server.stats().queued, 2u);
  EXPECT_EQ(state->entered.get(), 1);
  state->gate.open();
  for (int i = 0; i < kClients; ++i) EXPECT_EQ(clients[i].recv_line(), line_of(i));
  ASSERT_TRUE(state->done.wait_for(kClients));
  const auto stats = server.stats();
  EXPECT_EQ(stats.refused, 0u);
  EXPECT_EQ(stats.total_requests, static_cast<std::uint64_t>(kClients));
  EXPECT_EQ(stats.max_active, 1u);
  ASSERT_TRUE(serving.stop());
}

// shutdown() wakes an acceptor blocked on a full queue; queued requests are
// still served at close, never dropped.
TEST(Pool, ShutdownWakesABlockedAcceptorAndQueuedRequestsAreServed) {
  auto state = std::make_shared<GateState>();
  ServerOptions options;
  options.threads = 1;
  options.max_queued = 1;
  options.overload = Overload::block;
  ThreadPoolTCPServer server(Address("127.0.0.1", 0), factory_of<Gated>(state), options);
  ServeThread serving(server);
  Client busy = Client::stream(server.server_address());
  busy.send("busy\n");
  ASSERT_TRUE(state->entered.wait_for(1));
  Client queued = Client::stream(server.server_address());
  queued.send("queued\n");
  Client waiting = Client::stream(server.server_address());
  ASSERT_TRUE(wait_until([&] { return server.stats().total_requests == 3; }));
  ASSERT_TRUE(serving.stop()) << "shutdown() left the acceptor blocked on the queue";
  EXPECT_EQ(waiting.next_eof(), 0);
  EXPECT_EQ(server.stats().refused, 1u);
  state->gate.open();
  server.server_close();
  EXPECT_EQ(busy.recv_line(), "busy\n");
  EXPECT_EQ(queued.recv_line(), "queued\n");
  EXPECT_EQ(state->done.get(), 2);
}

// Datagrams share the awake threads (the pool's workers; threading's idle
// threads, one woken per batch), but one held up in its handler does not hold
// up the next: that wakes another thread.
struct SlowOrEcho : switchboard::DatagramRequestHandler {
  explicit SlowOrEcho(std::shared_ptr<GateState> s) : state(std::move(s)) {}
  void handle() override {
    if (packet() == "slow") {
      state->entered.add();
      state->gate.wait();
    } else if (packet() == "warm") {  // two at once: two threads, idle afterwards
      state->done.add();
      state->done.wait_for(2);
    }
    wfile.write(packet());
  }
  std::shared_ptr<GateState> state;
};

// The engine's hand-off itself, with idle threads kept for an hour: a
// request left behind can then start only by a wake-up, never by an idle
// thread's timeout. The thread woken first takes the slow request; the next
// must get a thread of its own: at once (Wake::each, for connections), or
// from the thread that took the slow one (Wake::at_batch, for datagrams).
// Repeated: the two idle threads are not always both asleep.
TEST(Workers, ARequestBehindASlowOneGetsAnotherThread) {
  using switchboard::Request;
  using switchboard::detail::Workers;
  for (auto wake : {Workers::Wake::each, Workers::Wake::at_batch}) {
    for (int i = 0; i < 20 && !HasFailure(); ++i) {
      Count warm, next, idle;
      Gate slow;
      Workers threads({0, 0, std::chrono::hours(1), wake}, [&](Request& r, bool) {
        if (r.packet == "warm") {
          warm.add();
          warm.wait_for(2);  // two at once: two threads
          idle.add();
        } else if (r.packet == "slow") {
          slow.wait();
        } else {
          next.add();
        }
      });
      auto start = [&](const char* packet) {
        Request r;
        r.packet = packet;
        r.reply_socket = std::make_shared<switchboard::Socket>();
        threads.submit(r);
        if (wake == Workers::Wake::at_batch) threads.end_of_batch();
      };
      start("warm");
      start("warm");
      ASSERT_TRUE(idle.wait_for(2));
      ASSERT_TRUE(wait_until([&] { return threads.busy() == 0; }));  // both idle now
      ASSERT_EQ(threads.tracked(), 2u);
      start("slow");
      start("next");
      EXPECT_TRUE(next.wait_for(1)) << "try " << i << ": left behind the slow request";
      EXPECT_EQ(threads.tracked(), 2u) << "the idle threads took them";
      slow.open();
      threads.close(std::chrono::steady_clock::now() + kLimit, [] {});
    }
  }
}

template <class S>
class SlowDatagram : public ::testing::Test {
 protected:
  static ServerOptions options() {
    ServerOptions o;
    o.threads = 2;  // the pool's workers; threading has no such bound
    return o;
  }
};
using ThreadedUdp =
    ::testing::Types<switchboard::ThreadPoolUDPServer, switchboard::ThreadingUDPServer>;
TYPED_TEST_SUITE(SlowDatagram, ThreadedUdp, ServerNames);

TYPED_TEST(SlowDatagram, HoldsUpOnlyItself) {
  auto state = std::make_shared<GateState>();
  TypeParam server(Address("127.0.0.1", 0), factory_of<SlowOrEcho>(state), this->options());
  ServeThread serving(server);
  Client c = Client::datagram(server.server_address());
  c.send("slow");
  ASSERT_TRUE(state->entered.wait_for(1));
  for (int i = 0; i < 8; ++i) {
    c.send(line_of(i));
    EXPECT_EQ(c.recv(), line_of(i)) << "held up behind the slow datagram";
  }
  state->gate.open();
  EXPECT_EQ(c.recv(), "slow");
  ASSERT_TRUE(serving.stop());
}

// The same with the next datagram on the heels of the slow one, before any
// thread took the slow one: a race, so tried many times. Two idle threads wait
// for them (a new thread would take the next at once in any case).
TYPED_TEST(SlowDatagram, TheNextRightBehindIsNotHeldUp) {
  for (int i = 0; i < 50 && !this->HasFailure(); ++i) {
    auto state = std::make_shared<GateState>();
    TypeParam server(Address("127.0.0.1", 0), factory_of<SlowOrEcho>(state), this->options());
    ServeThread serving(server);
    Client c = Client::datagram(server.server_address());
    c.send("warm");
    c.send("warm");
    ASSERT_EQ(c.recv(), "warm");
    ASSERT_EQ(c.recv(), "warm");
    c.send("slow");
    c.send("next");
    EXPECT_EQ(c.recv(), "next") << "try " << i << ": held up behind the slow datagram";
    state->gate.open();
    EXPECT_EQ(c.recv(), "slow");
    ASSERT_TRUE(serving.stop());
  }
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

// server_close() lets a datagram reply in flight go out on the server's own
// socket: it is not closed under the reply.
TEST(Pool, ServerCloseWaitsForADatagramReplyBeforeClosingTheSocket) {
  auto state = std::make_shared<GateState>();
  ServerOptions options;
  options.threads = 2;
  options.close_timeout = Seconds{60};
  switchboard::ThreadPoolUDPServer server(Address("127.0.0.1", 0), factory_of<SlowOrEcho>(state),
                                          options);
  ServeThread serving(server);
  Client c = Client::datagram(server.server_address());
  c.send("slow");
  ASSERT_TRUE(state->entered.wait_for(1));
  ASSERT_TRUE(serving.stop());
  auto closing = std::async(std::launch::async, [&] { server.server_close(); });
  EXPECT_EQ(closing.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout)
      << "server_close() did not wait for the reply in flight";
  state->gate.open();
  EXPECT_EQ(c.recv(), "slow") << "the reply did not come from the server's socket";
  ASSERT_EQ(closing.wait_for(kLimit), std::future_status::ready);
}

}  // namespace
}  // namespace sbt

namespace sbt {
namespace {

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
