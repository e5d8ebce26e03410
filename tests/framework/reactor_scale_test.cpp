// The reason for the reactor: many mostly idle connections on a handful of
// threads. A thousand idle coroutine connections on two loops cost no thread
// each, and an active client is still served among them.

#include <dirent.h>
#include <sys/resource.h>

#include <string>
#include <thread>

#include "helpers.hpp"
#include "switchboard/coroutine.hpp"

namespace sbt {
namespace {

using switchboard::AsyncStreamRequestHandler;
using switchboard::handler;

struct CoEcho : AsyncStreamRequestHandler {
  asio::awaitable<void> handle_async() override {
    for (std::string line; !(line = co_await rfile.readline()).empty();) co_await wfile.write(line);
  }
};

int thread_count() {
  DIR* d = ::opendir("/proc/self/task");
  if (!d) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n;
}

// Both ends live in this process: two descriptors per connection.
bool enough_descriptors(rlim_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= wanted) return true;
  if (limit.rlim_max < wanted) return false;
  limit.rlim_cur = wanted;
  return ::setrlimit(RLIMIT_NOFILE, &limit) == 0;
}

TEST(ReactorScale, AThousandIdleConnectionsOnTwoLoops) {
  constexpr int kIdle = 1000;
  if (!enough_descriptors(2 * kIdle + 256))
    GTEST_SKIP() << "RLIMIT_NOFILE's hard limit is below " << 2 * kIdle + 256;
  // TSan's runtime starts a thread of its own with the process's first one.
  std::thread([] {}).join();
  const int threads_before = thread_count();
  ServerOptions options;
  options.loops = 2;
  switchboard::ReactorTCPServer server(Address("127.0.0.1", 0), handler<CoEcho>, options);
  ServeThread serving(server);
  std::vector<Client> idle;
  idle.reserve(kIdle);
  for (int i = 0; i < kIdle; ++i) idle.push_back(Client::stream(server.server_address()));
  // Every one is being served (its coroutine waits for a line) ...
  ASSERT_TRUE(wait_until([&] { return server.stats().active_requests == kIdle; }))
      << server.stats().active_requests << " of " << kIdle << " connections are being served";
  // ... on the loops alone: no thread per connection, no worker.
  EXPECT_LE(thread_count(), threads_before + 2 + 1) << "threads: loops + the serving thread";
  EXPECT_EQ(server.workers(), 0u);
  // An active client among them is answered, and so is each idle one when it speaks.
  Client active = Client::stream(server.server_address());
  for (int i = 0; i < 100; ++i) {
    active.send("ping " + std::to_string(i) + "\n");
    ASSERT_EQ(active.recv_line(), "ping " + std::to_string(i) + "\n");
  }
  for (int i = 0; i < kIdle; i += 97) {
    idle[i].send("awake\n");
    EXPECT_EQ(idle[i].recv_line(), "awake\n") << "idle connection " << i;
  }
  ASSERT_TRUE(serving.stop());
  server.server_close();
  for (int i = 0; i < kIdle; i += 111) EXPECT_EQ(idle[i].next_eof(), 0);
}

}  // namespace
}  // namespace sbt
