// StopOnSignals: the first signal ends serve_forever(), a second exits the
// process at once with 128 + the signal, the previous handlers come back; a
// retire signal retires. SIGUSR2 stands in for SIGINT/SIGTERM, SIGUSR1 for SIGQUIT.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <future>
#include <string>
#include <thread>

#include "helpers.hpp"

namespace sbt {
namespace {

using switchboard::handler;
using switchboard::StopOnSignals;
using switchboard::StreamRequestHandler;
using switchboard::TCPServer;

// Greets, then echoes lines until the end of input.
struct Greeter : StreamRequestHandler {
  void handle() override {
    wfile.write("hi\n");
    for (std::string line; !(line = rfile.readline()).empty();) wfile.write(line);
  }
};

// The first signal drains: the idle connection ends, serve_forever() returns.
TEST(StopOnSignals, FirstSignalDrainsTheServer) {
  ServerOptions options;
  options.close_timeout = Seconds{60};
  switchboard::ThreadingTCPServer server(Address("127.0.0.1", 0), handler<Greeter>, options);
  StopOnSignals stop(server, {SIGUSR2});
  ServeThread serving(server);
  Client idle = Client::stream(server.server_address());
  ASSERT_EQ(idle.recv_line(), "hi\n");
  EXPECT_EQ(stop.signal(), 0);
  ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);
  ASSERT_EQ(serving.done().wait_for(kLimit), std::future_status::ready)
      << "the signal did not end serve_forever()";
  EXPECT_EQ(stop.signal(), SIGUSR2);
  EXPECT_EQ(idle.next_eof(), 0) << "the idle connection outlived the drain";
  ASSERT_TRUE(serving.join());
  server.server_close();
}

// A retire signal retires (the idle connection is still served); a drain
// signal after it drains (the idle connection ends), and is no second signal.
TEST(StopOnSignals, RetireSignalRetiresThenADrainSignalDrains) {
  ServerOptions options;
  options.close_timeout = Seconds{60};
  switchboard::ThreadingTCPServer server(Address("127.0.0.1", 0), handler<Greeter>, options);
  std::atomic<int> said{0};
  StopOnSignals stop(server, [&said](int sig) { said = sig; }, {SIGUSR2}, {SIGUSR1});
  ServeThread serving(server);
  Client idle = Client::stream(server.server_address());
  ASSERT_EQ(idle.recv_line(), "hi\n");
  ASSERT_EQ(::kill(::getpid(), SIGUSR1), 0);
  ASSERT_TRUE(serving.join()) << "the retire signal did not end serve_forever()";
  EXPECT_EQ(said, SIGUSR1);
  EXPECT_EQ(stop.signal(), 0) << "a retire signal counted as the first drain signal";
  idle.send("still\n");
  EXPECT_EQ(idle.recv_line(), "still\n") << "retired, the idle connection was not served";
  auto closing = std::async(std::launch::async, [&server] { server.server_close(); });
  ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);
  EXPECT_EQ(idle.next_eof(), 0) << "the drain signal left the idle connection open";
  ASSERT_EQ(closing.wait_for(kLimit), std::future_status::ready);
  EXPECT_EQ(stop.signal(), SIGUSR2);
}

TEST(StopOnSignals, OneAtATime) {
  TCPServer server(Address("127.0.0.1", 0), handler<StreamRequestHandler>);
  {
    StopOnSignals first(server, {SIGUSR2});
    EXPECT_THROW(StopOnSignals second(server, {SIGUSR2}), std::logic_error);
  }
  StopOnSignals again(server, {SIGUSR2});  // the first is gone: allowed again
  EXPECT_EQ(again.signal(), 0);
}

extern "C" void previous_handler(int) {}

TEST(StopOnSignals, RestoresThePreviousHandlers) {
  struct sigaction mine {};
  mine.sa_handler = previous_handler;
  sigemptyset(&mine.sa_mask);
  struct sigaction old {};
  ASSERT_EQ(::sigaction(SIGUSR2, &mine, &old), 0);
  TCPServer server(Address("127.0.0.1", 0), handler<StreamRequestHandler>);
  struct sigaction now {};
  {
    StopOnSignals stop(server, {SIGUSR2});
    ::sigaction(SIGUSR2, nullptr, &now);
    EXPECT_NE(now.sa_handler, &previous_handler);
  }
  ::sigaction(SIGUSR2, nullptr, &now);
  EXPECT_EQ(now.sa_handler, &previous_handler);
  ::sigaction(SIGUSR2, &old, nullptr);
}

TEST(StopOnSignalsDeathTest, SecondSignalExitsAtOnce) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        TCPServer server(Address("127.0.0.1", 0), handler<StreamRequestHandler>);
        StopOnSignals stop(server, {SIGUSR2});
        ::kill(::getpid(), SIGUSR2);
        ::kill(::getpid(), SIGUSR2);
        std::this_thread::sleep_for(kLimit);  // failure limit: the exit should come first
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(128 + SIGUSR2), "");
}

}  // namespace
}  // namespace sbt
