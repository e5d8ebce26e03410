// ThreadPoolMixIn under load: the workers, the bounded queue and its
// overload choice, and the worker engine the pool shares with threading:
// a slow datagram holds up only itself.

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
using switchboard::ThreadPoolTCPServer;
using Gated = GatedEcho<StreamRequestHandler>;

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
