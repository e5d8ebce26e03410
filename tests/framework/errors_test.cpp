// Handler errors: CPython's ErrorHandlerTest for every server (a forked child
// reports through a log file, as CPython's does), and what is not an error:
// a peer that resets mid-write, a connection that times out.

#include <cerrno>
#include <stdexcept>
#include <string>

#include "helpers.hpp"

namespace sbt {
namespace {

using switchboard::handler;
using switchboard::StreamRequestHandler;

// Logs each step to a file (which works from a forked child too); "raise\n"
// throws a std::exception, "raise42\n" throws an int, anything else is echoed.
template <class Base>
struct FaultyHandler : Base {
  explicit FaultyHandler(std::string log_path) : log(std::move(log_path)) {}
  void handle() override {
    const std::string line = this->rfile.readline();
    append_file(log, "Handler called\n");
    if (line == "raise\n") throw std::runtime_error("Test error");
    if (line == "raise42\n") throw 42;
    if (line == "partial\n") {
      this->wfile.write("partial\n");
      throw std::runtime_error("after a partial reply");
    }
    this->wfile.write(line);
  }
  void finish() override {
    append_file(log, "finish\n");
    Base::finish();
  }
  std::string log;
};

template <class S>
class HandlerErrors : public ::testing::Test {
 protected:
  using Server = Hooked<S>;

  HandlerErrors() : log(dir.file("log")), hooks(std::make_shared<Hooks>()) {
    hooks->log = log;
    server = std::make_unique<Server>(hooks, bind_arg<S>(dir),
                                      factory_of<FaultyHandler<HandlerBaseFor<S>>>(log));
    serving = std::make_unique<ServeThread>(*server);
  }
  ~HandlerErrors() override {
    serving.reset();
    server.reset();
  }

  // Sends a request that throws; waits until its handler, finish() and
  // handle_error() have all run.
  void raise(const std::string& line, const std::string& log_before) {
    Client c = Client::to(*server, dir);
    c.send(line);
    if constexpr (!is_datagram_v<S>) {
      EXPECT_EQ(c.next_eof(), 0) << "the failed connection was not closed cleanly";
    }
    const std::string expected = log_before + "Handler called\nfinish\nError handled\n";
    EXPECT_TRUE(wait_until([&] { return read_file(log) == expected; }))
        << "log: " << read_file(log);
  }

  TempDir dir;
  std::string log;
  std::shared_ptr<Hooks> hooks;
  std::unique_ptr<Server> server;
  std::unique_ptr<ServeThread> serving;
};
TYPED_TEST_SUITE(HandlerErrors, AllServers, ServerNames);

// CPython's test_{sync,threading,forking}_handled: the error reaches
// handle_error(), finish() ran first, and the server serves the next request.
TYPED_TEST(HandlerErrors, StdExceptionIsHandledAndServingGoesOn) {
  this->raise("raise\n", "");
  EXPECT_EQ(roundtrip(*this->server, this->dir, "next\n"), "next\n");
  const std::string expected = "Handler called\nfinish\nError handled\nHandler called\nfinish\n";
  EXPECT_TRUE(wait_until([&] { return read_file(this->log) == expected; })) << read_file(this->log);
  ASSERT_TRUE(this->serving->stop());
  this->server->server_close();
  // A forked child counts in memory it shares with the parent...
  EXPECT_EQ(this->server->stats().handler_errors, 1u);
  EXPECT_EQ(this->server->stats().total_requests, 2u);
  if constexpr (!is_forking_v<TypeParam>) {  // ...but its hooks run in the child
    EXPECT_EQ(this->hooks->errors.load(), 1);
    EXPECT_EQ(this->hooks->what(), std::vector<std::string>{"Test error"});
  }
}

// CPython's test_*_not_handled has SystemExit, which C++ lacks; its nearest
// kin, an exception not derived from std::exception, is handled all the same.
TYPED_TEST(HandlerErrors, NonStdExceptionIsHandledToo) {
  this->raise("raise42\n", "");
  this->raise("raise\n", "Handler called\nfinish\nError handled\n");
  EXPECT_EQ(roundtrip(*this->server, this->dir, "next\n"), "next\n");
  ASSERT_TRUE(this->serving->stop());
  this->server->server_close();
  EXPECT_EQ(this->server->stats().handler_errors, 2u);
  if constexpr (!is_forking_v<TypeParam>) {
    EXPECT_EQ(this->hooks->errors.load(), 2);
    EXPECT_EQ(this->hooks->what(), (std::vector<std::string>{"non-std", "Test error"}));
  }
}

// A handler error ends that request only; what it wrote before stays written.
TYPED_TEST(HandlerErrors, WhatWasWrittenBeforeTheErrorIsSent) {
  Client c = Client::to(*this->server, this->dir);
  c.send("partial\n");
  if constexpr (is_datagram_v<TypeParam>) {
    EXPECT_EQ(c.recv(), "partial\n");
  } else {
    EXPECT_EQ(c.recv_line(), "partial\n");
    EXPECT_EQ(c.next_eof(), 0);
  }
  const std::string expected = "Handler called\nfinish\nError handled\n";
  EXPECT_TRUE(wait_until([&] { return read_file(this->log) == expected; })) << read_file(this->log);
  EXPECT_EQ(roundtrip(*this->server, this->dir, "next\n"), "next\n");
  ASSERT_TRUE(this->serving->stop());
}

// An over-long line ends that connection; no prefix of it is echoed.
TEST(MaxLine, OverLongLineEndsTheConnectionWithoutEcho) {
  TempDir dir;
  ServerOptions options;
  options.max_line = 16;
  switchboard::TCPServer server(Address("127.0.0.1", 0), handler<LineEcho<StreamRequestHandler>>,
                                options);
  ServeThread serving(server);
  EXPECT_EQ(roundtrip(server, dir, "fifteen bytes!\n"), "fifteen bytes!\n");
  Client c = Client::stream(server.server_address());
  c.send(std::string(100, 'x') + "\n");
  const int e = c.next_eof();
  EXPECT_TRUE(e == 0 || e == ECONNRESET) << (e == -1 ? "a prefix was echoed" : "errno ") << e;
  EXPECT_EQ(roundtrip(server, dir, "short\n"), "short\n");
  ASSERT_TRUE(serving.stop());
}

// --- what is not a handler error ----------------------------------------------------

// "big\n" gets 16 MiB back; anything else is echoed.
struct BigReply : StreamRequestHandler {
  void handle() override {
    const std::string line = rfile.readline();
    wfile.write(line == "big\n" ? std::string(16 << 20, 'x') : line);
  }
};

template <class S>
class PeerGone : public ::testing::Test {};
using InProcessStream =
    ::testing::Types<switchboard::TCPServer, switchboard::ThreadingTCPServer,
                     switchboard::ThreadPoolTCPServer, switchboard::UnixStreamServer,
                     switchboard::ReactorTCPServer, switchboard::ReactorUnixStreamServer>;
TYPED_TEST_SUITE(PeerGone, InProcessStream, ServerNames);

// A client that resets while the handler writes a large reply is counted, not
// reported, and the server goes on serving.
TYPED_TEST(PeerGone, ResetMidWriteIsNotAHandlerError) {
  using S = TypeParam;
  TempDir dir;
  auto hooks = std::make_shared<Hooks>();
  Hooked<S> server(hooks, bind_arg<S>(dir), handler<BigReply>);
  ServeThread serving(server);
  {
    Client c = Client::stream(server.server_address());
    c.send("big\n");
    ASSERT_EQ(c.recv_exact(4096).size(), 4096u);  // the handler is writing
    c.reset();
  }
  EXPECT_TRUE(wait_until([&] { return server.stats().peer_resets == 1; }))
      << "peer_resets = " << server.stats().peer_resets;
  EXPECT_EQ(server.stats().handler_errors, 0u);
  EXPECT_EQ(hooks->errors.load(), 0) << "handle_error() saw: " << hooks->what().front();
  EXPECT_EQ(roundtrip(server, dir, "still here\n"), "still here\n");
  ASSERT_TRUE(serving.stop());
}

// ServerOptions::write_timeout ends a client that stops reading.
TYPED_TEST(PeerGone, WriteTimeoutEndsAClientThatStopsReading) {
  using S = TypeParam;
  TempDir dir;
  auto hooks = std::make_shared<Hooks>();
  ServerOptions options;
  options.write_timeout = Seconds{0.1};
  Hooked<S> server(hooks, bind_arg<S>(dir), handler<BigReply>, options);
  ServeThread serving(server);
  Client stalled = Client::stream(server.server_address());
  stalled.send("big\n");  // and never reads
  EXPECT_TRUE(wait_until([&] { return server.stats().timed_out == 1; }))
      << "the handler still writes to a client that does not read";
  EXPECT_EQ(server.stats().peer_resets, 0u);
  EXPECT_EQ(server.stats().handler_errors, 0u);
  EXPECT_EQ(hooks->errors.load(), 0);
  EXPECT_EQ(roundtrip(server, dir, "next\n"), "next\n");
  ASSERT_TRUE(serving.stop());
}

// ServerOptions::timeout ends an idle connection; that is the peer's doing,
// not a handler error.
TYPED_TEST(PeerGone, ReadTimeoutEndsAnIdleConnection) {
  using S = TypeParam;
  TempDir dir;
  auto hooks = std::make_shared<Hooks>();
  ServerOptions options;
  options.timeout = Seconds{0.1};
  Hooked<S> server(hooks, bind_arg<S>(dir), handler<LineEcho<StreamRequestHandler>>, options);
  ServeThread serving(server);
  Client idle = Client::stream(server.server_address());
  EXPECT_EQ(idle.next_eof(), 0) << "the idle connection was not ended by the read timeout";
  EXPECT_TRUE(wait_until([&] { return server.stats().timed_out == 1; }));
  EXPECT_EQ(server.stats().peer_resets, 0u);
  EXPECT_EQ(server.stats().handler_errors, 0u);
  EXPECT_EQ(hooks->errors.load(), 0);
  EXPECT_EQ(roundtrip(server, dir), "hello world\n");  // a prompt client is served
  ASSERT_TRUE(serving.stop());
}

}  // namespace
}  // namespace sbt
