// Socket activation under Debian's systemd-socket-activate, a peer nobody
// here wrote: it binds the address, waits for the first connection or
// datagram, then executes echo_server in its own process with LISTEN_FDS=1
// and LISTEN_PID; echo_server serves on that socket instead of binding, as
// one process or as a master whose workers serve on it.

#include <sys/socket.h>

#include <filesystem>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

const std::string kSocketActivate = SYSTEMD_SOCKET_ACTIVATE;  // "" when not installed

// systemd-socket-activate listening at `address` for echo_server `args`,
// once it says it listens; nullopt if it could not (a port taken meanwhile).
std::optional<ChildProcess> activate(const std::vector<std::string>& addresses, bool datagram,
                                     const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  for (const auto& a : addresses) argv.insert(argv.end(), {"-l", a});
  if (datagram) argv.push_back("--datagram");
  argv.push_back(kEchoServer);
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess process = ChildProcess::spawn(kSocketActivate, argv);
  for (std::size_t i = 0; i < addresses.size(); ++i)
    if (!process.read_stderr_until(" as " + std::to_string(3 + i) + ".\n")) return std::nullopt;
  return process;
}

class SocketActivation : public testing::TestWithParam<std::tuple<std::string, std::string>> {
 protected:
  void SetUp() override {
    if (kSocketActivate.empty()) GTEST_SKIP() << "systemd-socket-activate is not installed";
  }
  const std::string proto = std::get<0>(GetParam());
  const std::string policy = std::get<1>(GetParam());
};

TEST_P(SocketActivation, ServesOnTheActivatedSocket) {
  TempDir dir;
  // "POLICY [more flags]": a master with workers is activated as one process is.
  std::vector<std::string> args{"--proto", proto, "--policy"};
  std::istringstream words(policy);
  for (std::string w; words >> w;) args.push_back(w);
  std::optional<ChildProcess> server;
  Listening expected;
  expected.scheme = proto;
  if (is_unix(proto)) {
    expected.path = dir.file("activated.sock");
    expected.url = proto + ":" + expected.path;
    if (auto p = activate({expected.path}, is_datagram(proto), args)) server.emplace(std::move(*p));
  } else {
    // systemd-socket-activate takes no port 0: a port free a moment ago,
    // another if someone took it since.
    for (int attempt = 0; attempt < 20 && !server; ++attempt) {
      expected.host = "127.0.0.1";
      expected.port = bind_loopback(is_datagram(proto) ? SOCK_DGRAM : SOCK_STREAM).port;
      expected.url = proto + "://127.0.0.1:" + std::to_string(expected.port);
      const std::string address = "127.0.0.1:" + std::to_string(expected.port);
      if (auto p = activate({address}, is_datagram(proto), args)) server.emplace(std::move(*p));
    }
  }
  ASSERT_TRUE(server) << "systemd-socket-activate did not listen";

  // The first request starts the server, which finds it queued on the socket.
  Client first = connect_to(expected, dir);
  first.send_all("ping\n");
  const auto line = server->read_line();
  ASSERT_TRUE(line) << server->drain_stderr();
  EXPECT_EQ(*line, "listening on " + expected.url);
  EXPECT_EQ(is_datagram(proto) ? first.recv_datagram() : first.recv_line(), "ping\n");
  Client second = connect_to(expected, dir, "second.sock");
  second.send_all("pong\n");
  EXPECT_EQ(is_datagram(proto) ? second.recv_datagram() : second.recv_line(), "pong\n");

  expect_clean_stop(*server);
  // systemd-socket-activate made the file: not the server's to remove.
  if (is_unix(proto)) {
    EXPECT_TRUE(std::filesystem::is_socket(expected.path));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Protocols, SocketActivation,
    testing::Combine(testing::Values("tcp", "udp", "unix", "unix-dgram"),
                     testing::Values("threading", "reactor", "reactor --workers 2")),
    [](const auto& p) { return param_name(std::get<0>(p.param) + "_" + std::get<1>(p.param)); });

TEST(SocketActivationMany, ServesOnTheFirstAndSaysSo) {
  if (kSocketActivate.empty()) GTEST_SKIP() << "systemd-socket-activate is not installed";
  TempDir dir;
  const std::string first = dir.file("first.sock"), second = dir.file("second.sock");
  auto server = activate({first, second}, false, {"--proto", "unix"});
  ASSERT_TRUE(server);
  Client client = Client::unix_stream(first);
  client.send_all("ping\n");
  const auto line = server->read_line();
  ASSERT_TRUE(line) << server->drain_stderr();
  EXPECT_EQ(*line, "listening on unix:" + first);
  EXPECT_EQ(client.recv_line(), "ping\n");
  EXPECT_TRUE(server->read_stderr_until(
      "socket activation passed 2 sockets; serving on the first (descriptor 3"));
  expect_clean_stop(*server);
}

// LISTEN_PID names another process: the variables are not ours, and the
// server binds its own address as usual.
TEST(SocketActivationOther, VariablesForAnotherProcessAreIgnored) {
  BoundSocket other = bind_loopback(SOCK_STREAM);
  SpawnOptions options;
  options.fds = {{other.fd.get(), 3}};
  options.env = {"LISTEN_FDS=1", "LISTEN_PID=1"};
  auto server = start_server(kEchoServer, {"--port", "0"}, options);
  EXPECT_NE(server.listening.port, other.port);
  TempDir dir;
  Client client = connect_to(server.listening, dir);
  client.send_all("ping\n");
  EXPECT_EQ(client.recv_line(), "ping\n");
  expect_clean_stop(server.process);
}

}  // namespace
}  // namespace switchboard::test
