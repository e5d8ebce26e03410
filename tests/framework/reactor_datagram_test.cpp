// The reactor's datagram loops: coroutine datagram handlers run on the loop
// and their replies go out in batches; blocking ones run on the workers;
// oversized datagrams are dropped and counted; an empty one is echoed empty;
// with socket_per_loop each loop reads its own SO_REUSEPORT socket.

#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>

#include "helpers.hpp"
#include "switchboard/coroutine.hpp"

namespace sbt {
namespace {

using switchboard::AsyncDatagramRequestHandler;
using switchboard::handler;

// Echoes; "silent" gets no reply; "boom" writes, then throws.
struct CoPacketEcho : AsyncDatagramRequestHandler {
  asio::awaitable<void> handle_async() override {
    if (packet() == "silent") co_return;
    wfile.write(packet());
    if (packet() == "boom") throw std::runtime_error("boom");
    co_return;
  }
};

template <class S>
class ReactorDatagrams : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}, HandlerFactory factory = handler<CoPacketEcho>) {
    if (options.loops == 0) options.loops = 2;
    server = std::make_unique<Hooked<S>>(hooks, bind_arg<S>(dir), std::move(factory), options);
    serving = std::make_unique<ServeThread>(*server);
  }
  void TearDown() override {
    serving.reset();
    server.reset();
  }

  TempDir dir;
  std::shared_ptr<Hooks> hooks = std::make_shared<Hooks>();
  std::unique_ptr<Hooked<S>> server;
  std::unique_ptr<ServeThread> serving;
};
using ReactorDatagramServers =
    ::testing::Types<switchboard::ReactorUDPServer, switchboard::ReactorUnixDatagramServer>;
TYPED_TEST_SUITE(ReactorDatagrams, ReactorDatagramServers, ServerNames);

TYPED_TEST(ReactorDatagrams, EchoesIncludingAnEmptyDatagram) {
  this->start();
  Client c = Client::to(*this->server, this->dir);
  c.send("one");
  EXPECT_EQ(c.recv(), "one");
  c.send("");
  EXPECT_EQ(c.recv(), "");
  c.send("silent");
  c.send("after");
  EXPECT_EQ(c.recv(), "after") << "a handler that wrote nothing was answered";
  EXPECT_EQ(this->server->stats().total_requests, 4u);
  ASSERT_TRUE(this->serving->stop());
}

// Bursts from many clients: every datagram answered, to its own sender.
TYPED_TEST(ReactorDatagrams, BurstsFromManyClientsAreAllAnswered) {
  this->start();
  std::vector<Client> clients;
  for (int i = 0; i < 16; ++i) clients.push_back(Client::to(*this->server, this->dir));
  for (int round = 0; round < 20; ++round) {
    for (std::size_t i = 0; i < clients.size(); ++i)
      for (int k = 0; k < 4; ++k)
        clients[i].send("c" + std::to_string(i) + " r" + std::to_string(round) + " k" +
                        std::to_string(k));
    for (std::size_t i = 0; i < clients.size(); ++i)
      for (int k = 0; k < 4; ++k)
        ASSERT_EQ(clients[i].recv(), "c" + std::to_string(i) + " r" + std::to_string(round) + " k" +
                                         std::to_string(k));
  }
  EXPECT_EQ(this->server->stats().total_requests, 16u * 20 * 4);
  ASSERT_TRUE(this->serving->stop());
}

TYPED_TEST(ReactorDatagrams, OversizedIsDroppedAndCountedNeverCut) {
  ServerOptions options;
  options.max_datagram = 100;
  this->start(options);
  Client c = Client::to(*this->server, this->dir);
  c.send(std::string(100, 'f'));
  EXPECT_EQ(c.recv(), std::string(100, 'f'));
  c.send(std::string(101, 'a'));
  c.send("small");
  EXPECT_EQ(c.recv(), "small");
  EXPECT_EQ(this->server->stats().dropped_datagrams, 1u);
  EXPECT_EQ(this->hooks->errors.load(), 1);
  EXPECT_EQ(this->server->stats().total_requests, 2u);
  ASSERT_TRUE(this->serving->stop());
}

TYPED_TEST(ReactorDatagrams, HandlerErrorIsReportedAndTheReplyWrittenStillGoes) {
  this->start();
  Client c = Client::to(*this->server, this->dir);
  c.send("boom");
  EXPECT_EQ(c.recv(), "boom");
  EXPECT_TRUE(wait_until([&] { return this->hooks->errors.load() == 1; }));
  EXPECT_EQ(this->hooks->what(), std::vector<std::string>{"boom"});
  c.send("next");
  EXPECT_EQ(c.recv(), "next");
  ASSERT_TRUE(this->serving->stop());
}

TYPED_TEST(ReactorDatagrams, VerifyRequestFalseSendsNothing) {
  this->start();
  Client c = Client::to(*this->server, this->dir);
  this->hooks->accept = false;
  c.send("refused");
  EXPECT_TRUE(wait_until([&] { return this->server->stats().rejected == 1; }));
  this->hooks->accept = true;
  c.send("accepted");
  EXPECT_EQ(c.recv(), "accepted") << "the rejected datagram was answered";
  ASSERT_TRUE(this->serving->stop());
}

// A blocking DatagramRequestHandler runs on the workers: one is enough for
// one client at a time (more start as more run at once, up to threads).
TYPED_TEST(ReactorDatagrams, BlockingHandlersRunOnWorkers) {
  ServerOptions options;
  options.threads = 2;
  this->start(options, handler<LineEcho<switchboard::DatagramRequestHandler>>);
  EXPECT_EQ(this->server->workers(), 0u);
  Client c = Client::to(*this->server, this->dir);
  for (int i = 0; i < 5; ++i) {
    c.send("blocking " + std::to_string(i));
    EXPECT_EQ(c.recv(), "blocking " + std::to_string(i));
  }
  EXPECT_GE(this->server->workers(), 1u);
  EXPECT_LE(this->server->workers(), 2u);
  ASSERT_TRUE(this->serving->stop());
}

// Blocking handlers wait for a worker in a queue that max_queued bounds, as
// under the pool: with `refuse` the rest are refused at once and counted; with
// `block` the loop holds them back until a worker is free, and all are
// answered. One loop, so that the bound is exact.
TYPED_TEST(ReactorDatagrams, MaxQueuedBoundsTheWorkersQueue) {
  for (const auto overload : {switchboard::Overload::refuse, switchboard::Overload::block}) {
    this->TearDown();
    auto state = std::make_shared<GateState>();
    ServerOptions options;
    options.loops = 1;
    options.threads = 1;
    options.max_queued = 2;
    options.overload = overload;
    this->start(options, factory_of<GatedEcho<switchboard::DatagramRequestHandler>>(state));
    const bool refuse = overload == switchboard::Overload::refuse;
    Client c = Client::to(*this->server, this->dir);
    c.send("0");
    ASSERT_TRUE(state->entered.wait_for(1));  // the one worker is held
    for (int i = 1; i < 10; ++i) c.send(std::to_string(i));
    EXPECT_TRUE(wait_until([&] { return this->server->stats().queued == 2; }))
        << this->server->stats();
    if (refuse) {
      EXPECT_TRUE(wait_until([&] { return this->server->stats().refused == 7; }))
          << this->server->stats();
    } else {
      EXPECT_EQ(this->server->stats().refused, 0u);
    }
    state->gate.open();
    std::set<std::string> answered;
    for (int i = 0; i < (refuse ? 3 : 10); ++i) answered.insert(c.recv());
    std::set<std::string> expected;
    for (int i = 0; i < (refuse ? 3 : 10); ++i) expected.insert(std::to_string(i));
    EXPECT_EQ(answered, expected);
    EXPECT_EQ(this->server->stats().refused, refuse ? 7u : 0u);
    ASSERT_TRUE(this->serving->stop());
  }
}

// Voluntary context switches of every thread of this process so far.
long voluntary_switches() {
  long total = 0;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream status(task.path() / "status");
    for (std::string key; status >> key;)
      if (key == "voluntary_ctxt_switches:") {
        long n = 0;
        status >> n;
        total += n;
      }
  }
  return total;
}

// While `block` holds the loop for room, the loop waits for a worker to take a
// job, not on a clock: over a fifth of a second (watched, not waited for) the
// process hardly wakes. A loop that looked every millisecond woke ~200 times.
TYPED_TEST(ReactorDatagrams, BlockWaitsForRoomWithoutPolling) {
  auto state = std::make_shared<GateState>();
  ServerOptions options;
  options.loops = 1;
  options.threads = 1;
  options.max_queued = 1;
  options.overload = switchboard::Overload::block;
  this->start(options, factory_of<GatedEcho<switchboard::DatagramRequestHandler>>(state));
  Client c = Client::to(*this->server, this->dir);
  c.send("0");
  ASSERT_TRUE(state->entered.wait_for(1));  // the one worker is held
  c.send("1");                              // queued: the queue is full
  ASSERT_TRUE(wait_until([&] { return this->server->stats().queued == 1; }));
  c.send("2");  // the loop waits for room to queue it
  const long before = voluntary_switches();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_LT(voluntary_switches() - before, 40) << "the loop polls while it waits for room";
  state->gate.open();
  std::set<std::string> answered;
  for (int i = 0; i < 3; ++i) answered.insert(c.recv());
  EXPECT_EQ(answered, (std::set<std::string>{"0", "1", "2"}));
  ASSERT_TRUE(this->serving->stop());
}

// Each loop reads its own SO_REUSEPORT socket; the kernel spreads the
// clients over them, and each is answered from the port it wrote to.
TEST(ReactorUDP, SocketPerLoopAnswersEveryClient) {
  ServerOptions options;
  options.loops = 4;
  options.socket_per_loop = true;
  switchboard::ReactorUDPServer server(Address("127.0.0.1", 0), handler<CoPacketEcho>, options);
  ServeThread serving(server);
  std::vector<Client> clients;
  for (int i = 0; i < 32; ++i) clients.push_back(Client::datagram(server.server_address()));
  for (int round = 0; round < 5; ++round)
    for (std::size_t i = 0; i < clients.size(); ++i) {
      const std::string message = "client " + std::to_string(i) + " round " + std::to_string(round);
      clients[i].send(message);
      ASSERT_EQ(clients[i].recv(), message);
    }
  ASSERT_TRUE(serving.stop());
  server.server_close();
}

// The coroutine datagram handler under a blocking policy.
TEST(CoroutineDatagramElsewhere, ServesUnderThePool) {
  switchboard::ThreadPoolUDPServer server(Address("127.0.0.1", 0), handler<CoPacketEcho>);
  ServeThread serving(server);
  Client c = Client::datagram(server.server_address());
  c.send("pooled");
  EXPECT_EQ(c.recv(), "pooled");
  c.send("");
  EXPECT_EQ(c.recv(), "");
  ASSERT_TRUE(serving.stop());
}

}  // namespace
}  // namespace sbt
