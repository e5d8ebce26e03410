// sd_notify: with NOTIFY_SOCKET set (a Type=notify unit), echo_server says
// READY=1 once it listens and STOPPING=1 when its drain begins, each with a
// STATUS= line; a master also RELOADING=1 at a reload. The test plays the
// service manager: a Unix datagram socket.

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <string>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

// The next notification; "" if none came in time.
std::string next_notification(const UniqueFd& socket) {
  pollfd p{socket.get(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(kTimeout.count())) != 1) return {};
  char buffer[4096];
  const ssize_t n = ::recv(socket.get(), buffer, sizeof buffer, 0);
  return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
}

TEST(Notify, ReadyThenStopping) {
  TempDir dir;
  UniqueFd manager = bind_unix(dir.file("notify.sock"), SOCK_DGRAM);
  SpawnOptions options;
  options.env = {"NOTIFY_SOCKET=" + dir.file("notify.sock")};
  auto server = start_server(kEchoServer, {"--port", "0"}, options);
  EXPECT_EQ(next_notification(manager), "READY=1\nSTATUS=serving on " + server.listening.url);
  server.process.send_signal(SIGTERM);
  EXPECT_EQ(next_notification(manager), "STOPPING=1\nSTATUS=draining 0 connections, up to 10 s");
  const auto status = server.process.wait();
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->exited(0)) << *status;
}

// A master says READY=1 once every worker is, RELOADING=1 at SIGHUP and
// READY=1 again once the new generation is, then STOPPING=1; its workers say nothing.
TEST(Notify, MasterReloadingThenReady) {
  TempDir dir;
  UniqueFd manager = bind_unix(dir.file("notify.sock"), SOCK_DGRAM);
  SpawnOptions options;
  options.env = {"NOTIFY_SOCKET=" + dir.file("notify.sock")};
  auto server = start_server(kEchoServer, {"--port", "0", "--workers", "2"}, options);
  EXPECT_EQ(next_notification(manager),
            "READY=1\nSTATUS=serving on " + server.listening.url + " with 2 workers");
  server.process.send_signal(SIGHUP);
  EXPECT_EQ(next_notification(manager), "RELOADING=1\nSTATUS=reloading: starting generation 2");
  EXPECT_EQ(next_notification(manager),
            "READY=1\nSTATUS=serving on " + server.listening.url + ", generation 2");
  server.process.send_signal(SIGTERM);
  // 2, or 4 while the first generation still serves its last connections.
  const std::string stopping = next_notification(manager);
  EXPECT_TRUE(stopping.starts_with("STOPPING=1\nSTATUS=draining ")) << stopping;
  const auto status = server.process.wait();
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->exited(0)) << *status;
}

}  // namespace
}  // namespace switchboard::test
