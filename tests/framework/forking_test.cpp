// ForkingMixIn: reaps only its own children (CPython's simple_subprocess
// check, issue #1540386), leaves no zombie after server_close(), caps children.
//
// Handlers here run in forked children: they talk to the test only through
// their connection.

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <future>
#include <string>
#include <vector>

#include "helpers.hpp"

namespace sbt {
namespace {

using switchboard::ForkingTCPServer;
using switchboard::handler;
using switchboard::Overload;
using switchboard::StreamRequestHandler;

// Writes its pid, then echoes lines until the end of input.
struct PidEcho : StreamRequestHandler {
  void handle() override {
    wfile.write(std::to_string(::getpid()) + "\n");
    for (std::string line; !(line = rfile.readline()).empty();) wfile.write(line);
  }
};

// Writes how many threads its process runs.
struct ThreadCount : StreamRequestHandler {
  void handle() override {
    int threads = 0;
    for ([[maybe_unused]] const auto& task : std::filesystem::directory_iterator("/proc/self/task"))
      ++threads;
    wfile.write(std::to_string(threads) + "\n");
  }
};

pid_t read_pid(Client& c) { return static_cast<pid_t>(std::stol(c.recv_line())); }

// No longer a child of ours: reaped, not a zombie.
::testing::AssertionResult reaped(pid_t pid) {
  int status = 0;
  const pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == -1 && errno == ECHILD) return ::testing::AssertionSuccess();
  if (r == 0) return ::testing::AssertionFailure() << "child " << pid << " still runs";
  return ::testing::AssertionFailure() << "child " << pid << " was left for us to reap";
}

TEST(Forking, NeverReapsAChildItDidNotStart) {
  OwnChild own;  // exits at once, before the server runs
  std::vector<pid_t> children;
  {
    ForkingTCPServer server(Address("127.0.0.1", 0), handler<PidEcho>);
    ServeThread serving(server);
    for (int i = 0; i < 5; ++i) {
      Client c = Client::stream(server.server_address());
      const pid_t pid = read_pid(c);
      EXPECT_NE(pid, ::getpid());
      children.push_back(pid);
      c.send("x\n");
      EXPECT_EQ(c.recv_line(), "x\n");
      c.shutdown_write();
      EXPECT_EQ(c.next_eof(), 0);
    }
    ASSERT_TRUE(serving.stop());
    server.server_close();
    EXPECT_EQ(server.active_children(), 0u);
    // No zombies: server_close() waited for every child and reaped it.
    for (pid_t pid : children) EXPECT_TRUE(reaped(pid));
  }
  EXPECT_TRUE(own.reap());
}

// A child still serving a request (half a line) at close_timeout is killed and reaped.
TEST(Forking, ServerCloseKillsAndReapsChildrenPastTheDeadline) {
  ServerOptions options;
  options.close_timeout = Seconds{0.1};
  ForkingTCPServer server(Address("127.0.0.1", 0), handler<PidEcho>, options);
  ServeThread serving(server);
  Client slow = Client::stream(server.server_address());
  const pid_t pid = read_pid(slow);
  slow.send("x\nhalf a li");  // one segment: once "x\n" is back, the child holds the rest
  ASSERT_EQ(slow.recv_line(), "x\n");
  // The child may answer before the parent's fork() has returned and counted it.
  EXPECT_TRUE(wait_until([&] { return server.active_children() == 1; }));
  ASSERT_TRUE(serving.stop());
  auto closing = std::async(std::launch::async, [&] { server.server_close(); });
  ASSERT_EQ(closing.wait_for(kLimit), std::future_status::ready);
  EXPECT_EQ(server.active_children(), 0u);
  EXPECT_TRUE(reaped(pid));
  const int e = slow.next_eof();
  EXPECT_TRUE(e == 0 || e == ECONNRESET) << e;
}

// A child whose connection is idle ends at once at server_close(), long
// before close_timeout, and is reaped.
TEST(Forking, ServerCloseEndsIdleChildrenAtOnce) {
  ServerOptions options;
  options.close_timeout = Seconds{60};
  ForkingTCPServer server(Address("127.0.0.1", 0), handler<PidEcho>, options);
  ServeThread serving(server);
  Client idle = Client::stream(server.server_address());
  const pid_t pid = read_pid(idle);  // the child now waits for a line
  ASSERT_TRUE(serving.stop());
  auto closing = std::async(std::launch::async, [&] { server.server_close(); });
  EXPECT_EQ(idle.next_eof(), 0);
  ASSERT_EQ(closing.wait_for(kLimit), std::future_status::ready);
  EXPECT_TRUE(reaped(pid));
}

TEST(Forking, MaxChildrenWithRefuse) {
  ServerOptions options;
  options.max_children = 1;
  options.overload = Overload::refuse;
  ForkingTCPServer server(Address("127.0.0.1", 0), handler<PidEcho>, options);
  ServeThread serving(server);
  Client first = Client::stream(server.server_address());
  read_pid(first);  // its child is serving it
  Client refused = Client::stream(server.server_address());
  EXPECT_EQ(refused.next_eof(), 0) << "the second client was not refused";
  EXPECT_EQ(server.stats().refused, 1u);
  first.send("first\n");
  EXPECT_EQ(first.recv_line(), "first\n");
  first.shutdown_write();
  ASSERT_TRUE(wait_until([&] { return server.active_children() == 0; }));
  Client later = Client::stream(server.server_address());
  read_pid(later);
  later.send("later\n");
  EXPECT_EQ(later.recv_line(), "later\n");
  ASSERT_TRUE(serving.stop());
  server.server_close();
}

TEST(Forking, MaxChildrenWithBlockWaitsForAChildToExit) {
  ServerOptions options;
  options.max_children = 1;
  options.overload = Overload::block;
  ForkingTCPServer server(Address("127.0.0.1", 0), handler<PidEcho>, options);
  ServeThread serving(server);
  Client first = Client::stream(server.server_address());
  read_pid(first);
  Client second = Client::stream(server.server_address());
  second.send("second\n");
  ASSERT_TRUE(wait_until([&] { return server.stats().total_requests == 2; }));
  EXPECT_EQ(server.active_children(), 1u);
  first.send("first\n");
  EXPECT_EQ(first.recv_line(), "first\n");
  first.shutdown_write();  // its child ends, making room for the second
  read_pid(second);        // served once the first child has exited
  EXPECT_EQ(second.recv_line(), "second\n");
  EXPECT_EQ(server.stats().refused, 0u);
  ASSERT_TRUE(serving.stop());
  server.server_close();
}

// The child of a multi-threaded parent may only do what is safe there: a
// thread it starts can deadlock on a lock a parent thread held at fork()
// (clang 14's ASan allocator did, for the drain watcher thread children used
// to start). A child serves, and drains, on the one thread fork() gave it.
TEST(Forking, ChildServesOnOneThread) {
  ForkingTCPServer server(Address("127.0.0.1", 0), handler<ThreadCount>);
  ServeThread serving(server);
  Client c = Client::stream(server.server_address());
  EXPECT_EQ(c.recv_line(), "1\n");
  EXPECT_EQ(c.next_eof(), 0);
  ASSERT_TRUE(serving.stop());
  server.server_close();
}

// Writes how many of its process's descriptors are pidfds, once asked.
struct PidfdCount : StreamRequestHandler {
  void handle() override {
    rfile.readline();
    int pidfds = 0;
    for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      if (std::filesystem::read_symlink(fd.path(), ec).string() == "anon_inode:[pidfd]") ++pidfds;
    }
    wfile.write(std::to_string(pidfds) + "\n");
  }
};

// The parent holds a pidfd per child; a child forked while others run holds
// none of them (it could signal its siblings, and they count against its
// descriptor limit).
TEST(Forking, AChildHoldsNoPidfdOfItsSiblings) {
  ForkingTCPServer server(Address("127.0.0.1", 0), handler<PidfdCount>);
  ServeThread serving(server);
  Client first = Client::stream(server.server_address());
  Client second = Client::stream(server.server_address());
  ASSERT_TRUE(wait_until([&] { return server.active_children() == 2; }));
  Client third = Client::stream(server.server_address());
  ASSERT_TRUE(wait_until([&] { return server.active_children() == 3; }));
  third.send("count\n");
  EXPECT_EQ(third.recv_line(), "0\n") << "pidfds of the other children";
  first.send("count\n");
  second.send("count\n");
  EXPECT_EQ(first.recv_line(), "0\n");
  EXPECT_EQ(second.recv_line(), "0\n");
  ASSERT_TRUE(serving.stop());
  server.server_close();
}

// A drain that begins while a child is being forked must reach that child
// too (signals sent to the children registered so far missed it): drain_all()
// before fork() is that race made certain.
TEST(ForkingChildren, DrainReachesAChildForkedAfterIt) {
  int report[2];
  ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
  Fd report_read(report[0]), report_write(report[1]);
  switchboard::detail::ChildProcesses children(1);
  children.drain_all();
  switchboard::Request request;
  const pid_t pid = children.fork(request);
  if (pid == 0) {
    pollfd drain{children.drain_fd(), POLLIN, 0};
    const char* seen = ::poll(&drain, 1, 0) == 1 ? "d" : "n";  // readable at once, or never
    ::_exit(::write(report_write.get(), seen, 1) == 1 ? 0 : 1);
  }
  report_write.reset();
  pollfd p{report_read.get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kLimit).count())), 1);
  char seen = 0;
  EXPECT_EQ(::read(report_read.get(), &seen, 1), 1);
  EXPECT_EQ(seen, 'd') << "the child forked after drain_all() was not asked to drain";
  children.close(std::chrono::steady_clock::now() + kLimit);
  EXPECT_TRUE(reaped(pid));
}

}  // namespace
}  // namespace sbt
