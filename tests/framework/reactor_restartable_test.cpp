// The reactor with blocking-style handlers served per request: a restartable
// StreamRequestHandler parks at an idle request boundary (its handle()
// unwinds), the loop waits for the next bytes, and a worker runs handle()
// again. setup() and finish() run once; a small pool serves many connections.

#include <cerrno>
#include <future>
#include <stdexcept>
#include <string>
#include <system_error>

#include "helpers.hpp"

namespace sbt {
namespace {

using switchboard::handler;
using switchboard::ReactorTCPServer;
using switchboard::StreamRequestHandler;

struct Calls {
  Count setups, handles, finishes;
};

// Echoes lines; its greeting is in setup(), since handle() starts over after
// each park. "boom\n" throws; a timed-out read is answered "timeout\n".
struct Restartable : StreamRequestHandler {
  static constexpr bool restartable = true;
  explicit Restartable(std::shared_ptr<Calls> c) : calls(std::move(c)) {}
  void setup() override {
    StreamRequestHandler::setup();
    calls->setups.add();
    wfile.write("hi\n");
  }
  void handle() override {
    calls->handles.add();
    try {
      for (std::string line; !(line = rfile.readline()).empty();) {
        if (line == "boom\n") throw std::runtime_error("boom");
        wfile.write(line);
      }
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::timed_out) throw;
      wfile.write("timeout\n");
    }
  }
  void finish() override {
    calls->finishes.add();
    StreamRequestHandler::finish();
  }
  std::shared_ptr<Calls> calls;
};

// An existing handler, unchanged: it opts in through restartable_handler<>.
struct PlainEcho : StreamRequestHandler {
  void handle() override {
    for (std::string line; !(line = rfile.readline()).empty();) wfile.write(line);
  }
};

class Restartables : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}, HandlerFactory factory = {}) {
    if (options.loops == 0) options.loops = 2;
    if (!factory) factory = factory_of<Restartable>(calls);
    server = std::make_unique<Hooked<ReactorTCPServer>>(hooks, Address("127.0.0.1", 0),
                                                        std::move(factory), options);
    serving = std::make_unique<ServeThread>(*server);
  }
  Client greeted() {
    Client c = Client::stream(server->server_address());
    EXPECT_EQ(c.recv_line(), "hi\n");
    return c;
  }
  void TearDown() override {
    serving.reset();
    server.reset();
  }

  std::shared_ptr<Calls> calls = std::make_shared<Calls>();
  std::shared_ptr<Hooks> hooks = std::make_shared<Hooks>();
  std::unique_ptr<Hooked<ReactorTCPServer>> server;
  std::unique_ptr<ServeThread> serving;
};

// Each line waits until the handler has parked (it is not being served while
// the connection stays open), and handle() runs again for the next: setup()
// and finish() still run once.
TEST_F(Restartables, ParksBetweenRequestsSetupAndFinishOnce) {
  start();
  {
    Client c = greeted();
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(wait_until([&] { return server->stats().active_requests == 0; }))
          << "the handler holds its worker between requests";
      const std::string line = "line " + std::to_string(i) + "\n";
      c.send(line);
      ASSERT_EQ(c.recv_line(), line);
    }
    ASSERT_TRUE(wait_until([&] { return server->stats().active_requests == 0; }));
    c.shutdown_write();
    EXPECT_EQ(c.next_eof(), 0);
  }
  ASSERT_TRUE(calls->finishes.wait_for(1));
  EXPECT_EQ(calls->setups.get(), 1);
  EXPECT_EQ(calls->handles.get(), 12) << "once at first, once per line, once at the end of input";
  EXPECT_EQ(calls->finishes.get(), 1);
  EXPECT_TRUE(wait_until([&] { return hooks->shutdowns.load() == 1; }));
  EXPECT_EQ(server->stats().handler_errors, 0u);
  ASSERT_TRUE(serving->stop());
}

// 256 long-lived connections on 4 workers: every one is served, round after
// round, because an idle connection holds no worker.
TEST_F(Restartables, FourWorkersServeEvery256LongLivedConnections) {
  ServerOptions options;
  options.threads = 4;
  start(options);
  std::vector<Client> clients;
  for (int i = 0; i < 256; ++i) clients.push_back(greeted());
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < clients.size(); ++i)
      clients[i].send("round " + std::to_string(round) + " conn " + std::to_string(i) + "\n");
    for (std::size_t i = 0; i < clients.size(); ++i)
      ASSERT_EQ(clients[i].recv_line(),
                "round " + std::to_string(round) + " conn " + std::to_string(i) + "\n");
  }
  EXPECT_EQ(server->workers(), 4u);
  EXPECT_EQ(calls->setups.get(), 256);
  ASSERT_TRUE(serving->stop());
}

TEST_F(Restartables, AnUnchangedHandlerOptsInThroughTheFactory) {
  ServerOptions options;
  options.threads = 1;
  start(options, switchboard::restartable_handler<PlainEcho>);
  Client a = Client::stream(server->server_address());
  Client b = Client::stream(server->server_address());
  a.send("a\n");
  EXPECT_EQ(a.recv_line(), "a\n");
  b.send("b\n");  // one worker, and `a` still open: served only if `a` parked
  EXPECT_EQ(b.recv_line(), "b\n");
  ASSERT_TRUE(serving->stop());
}

TEST_F(Restartables, HandlerErrorIsReportedOnceAndFinishRuns) {
  start();
  {
    Client c = greeted();
    c.send("one\n");
    EXPECT_EQ(c.recv_line(), "one\n");
    c.send("boom\n");
    EXPECT_EQ(c.next_eof(), 0);
  }
  EXPECT_TRUE(wait_until([&] { return hooks->errors.load() == 1; }));
  EXPECT_EQ(hooks->what(), std::vector<std::string>{"boom"});
  ASSERT_TRUE(calls->finishes.wait_for(1));
  EXPECT_EQ(calls->setups.get(), 1);
  ASSERT_TRUE(serving->stop());
}

// A parked connection past the idle timeout: handle() runs again and its read
// throws errc::timed_out, as a blocking read would.
TEST_F(Restartables, ParkedPastTheIdleTimeoutSeesATimedOutRead) {
  ServerOptions options;
  options.timeout = Seconds{0.1};
  start(options);
  Client c = greeted();
  c.send("one\n");
  EXPECT_EQ(c.recv_line(), "one\n");
  EXPECT_EQ(c.recv_line(), "timeout\n");
  EXPECT_EQ(c.next_eof(), 0);
  ASSERT_TRUE(calls->finishes.wait_for(1));
  ASSERT_TRUE(serving->stop());
}

// A parked connection that never sent its first request is cut at the
// first-request deadline, without a worker waiting for it.
TEST_F(Restartables, FirstRequestDeadlineReachesAParkedConnection) {
  ServerOptions options;
  options.first_request_timeout = Seconds{0.2};
  options.threads = 1;
  start(options);
  Client dawdler = greeted();  // parked at once, its first request never comes
  Client prompt = greeted();   // served by the only worker meanwhile
  prompt.send("prompt\n");
  ASSERT_EQ(prompt.recv_line(), "prompt\n");
  EXPECT_EQ(dawdler.recv_line(), "timeout\n");
  EXPECT_EQ(dawdler.next_eof(), 0);
  prompt.send("still here\n");
  EXPECT_EQ(prompt.recv_line(), "still here\n");
  ASSERT_TRUE(serving->stop());
}

TEST_F(Restartables, DrainEndsParkedConnectionsAtOnceAndFinishesHalfLines) {
  ServerOptions options;
  options.close_timeout = Seconds{60};
  start(options);
  std::vector<Client> parked;
  for (int i = 0; i < 10; ++i) {
    parked.push_back(greeted());
    parked.back().send("x\n");
    ASSERT_EQ(parked.back().recv_line(), "x\n");
  }
  Client half = greeted();
  half.send("y\nhal");
  ASSERT_EQ(half.recv_line(), "y\n");
  auto closing = std::async(std::launch::async, [this] {
    server->drain();
    server->server_close();
  });
  for (auto& c : parked) EXPECT_EQ(c.next_eof(), 0) << "a parked connection was not ended";
  half.send("f\n");
  EXPECT_EQ(half.recv_line(), "half\n");
  EXPECT_EQ(half.next_eof(), 0);
  ASSERT_EQ(closing.wait_for(kLimit), std::future_status::ready);
  EXPECT_EQ(calls->finishes.get(), 11);
  EXPECT_EQ(server->stats().handler_errors, 0u);
}

// A half line that reaches the server as the drain begins is a request in
// flight, whether its bytes find the handler parked or its worker just past a
// look that found nothing. A race, so tried on many servers.
TEST_F(Restartables, HalfLineArrivingAsDrainBeginsIsAnsweredWhole) {
  ServerOptions options;
  options.close_timeout = Seconds{60};
  for (int i = 0; i < 100 && !HasFailure(); ++i) {
    TearDown();
    start(options);
    Client c = greeted();
    c.send("hal");  // in the server's socket buffer now
    server->begin_drain();
    c.send("f\n");
    auto closing = std::async(std::launch::async, [this] {
      server->drain();
      server->server_close();
    });
    EXPECT_EQ(c.recv_line(), "half\n") << "try " << i << ": the request in flight was cut";
    EXPECT_EQ(c.next_eof(), 0) << "try " << i;
    ASSERT_EQ(closing.wait_for(kLimit), std::future_status::ready);
  }
}

}  // namespace
}  // namespace sbt
