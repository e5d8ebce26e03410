// echo_server as a user runs it: every transport under every policy, the
// stream edge cases (bytes without a newline, binary data, half-close),
// datagram edge cases, IPv6.

#include <signal.h>
#include <sys/socket.h>

#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "samples_test.hpp"

namespace switchboard::test {
namespace {

const std::vector<std::string> kTransports = {"tcp", "udp", "unix", "unix-dgram"};
const std::vector<std::string> kPolicies = {"serial", "threading", "pool", "forking", "reactor"};

class EchoEveryTransportAndPolicy
    : public testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(EchoEveryTransportAndPolicy, EchoesThreeTimes) {
  const auto& [proto, policy] = GetParam();
  TempDir dir;
  auto server = start_server(kEchoServer, server_args(proto, policy, dir));
  EXPECT_EQ(server.listening.scheme, proto);

  if (is_datagram(proto)) {
    Client client = connect_to(server.listening, dir);
    for (int i = 1; i <= 3; ++i) {
      const std::string message = "datagram " + std::to_string(i);
      client.send_all(message);
      EXPECT_EQ(client.recv_datagram(), message);
    }
  } else {
    // A connection each time: the policy runs once per connection.
    for (int i = 1; i <= 3; ++i) {
      Client client = connect_to(server.listening, dir);
      const std::string line = "line " + std::to_string(i) + "\n";
      client.send_all(line);
      EXPECT_EQ(client.recv_line(), line);
      client.shutdown_write();
      EXPECT_EQ(client.recv_until_eof(), "");
    }
  }
  expect_clean_stop(server.process);
}

INSTANTIATE_TEST_SUITE_P(Samples, EchoEveryTransportAndPolicy,
                         testing::Combine(testing::ValuesIn(kTransports),
                                          testing::ValuesIn(kPolicies)),
                         [](const auto& p) {
                           return param_name(std::get<0>(p.param) + "_" + std::get<1>(p.param));
                         });

using StreamPolicy = std::tuple<std::string, std::string>;

class EchoStreamEveryPolicy : public testing::TestWithParam<StreamPolicy> {
 protected:
  void SetUp() override {
    const auto& [proto, policy] = GetParam();
    server.emplace(start_server(kEchoServer, server_args(proto, policy, dir)));
  }

  TempDir dir;
  std::optional<ServerProcess> server;
};

// RFC 862: bytes, not lines. A reply that waits for a newline never comes.
TEST_P(EchoStreamEveryPolicy, BytesComeBackWithoutWaitingForANewline) {
  Client client = connect_to(server->listening, dir);
  client.send_all("ping");
  EXPECT_EQ(client.recv_exactly(4), "ping");
  client.send_all("p");
  EXPECT_EQ(client.recv_exactly(1), "p");
  expect_clean_stop(server->process);
}

// Binary data (NULs, no newline at the end) comes back exactly; after the
// half-close what remains comes back, then the server closes.
TEST_P(EchoStreamEveryPolicy, ArbitraryBytesComeBackExactly) {
  std::mt19937 random(862);
  auto bytes = [&](std::size_t n) {
    std::string data(n, '\0');
    for (char& c : data) c = static_cast<char>(random() & 0xff);
    data[n / 2] = '\0';
    data.back() = 'z';  // no newline at the end
    return data;
  };
  Client client = connect_to(server->listening, dir);
  const std::string first = bytes(3000);
  client.send_all(first);
  EXPECT_TRUE(client.recv_exactly(first.size()) == first) << "the 3,000 bytes came back altered";
  const std::string rest = bytes(3000);
  client.send_all(rest);
  client.shutdown_write();
  EXPECT_TRUE(client.recv_until_eof() == rest) << "what remained at the half-close";
  EXPECT_FALSE(client.was_reset());
  expect_clean_stop(server->process);
}

TEST_P(EchoStreamEveryPolicy, HalfCloseEchoesTheRestThenCloses) {
  Client client = connect_to(server->listening, dir);
  client.send_all("abc\ndef");
  client.shutdown_write();
  EXPECT_EQ(client.recv_until_eof(), "abc\ndef");
  EXPECT_FALSE(client.was_reset());
  expect_clean_stop(server->process);
}

INSTANTIATE_TEST_SUITE_P(Samples, EchoStreamEveryPolicy,
                         testing::Combine(testing::Values("tcp", "unix"),
                                          testing::ValuesIn(kPolicies)),
                         [](const auto& p) {
                           return param_name(std::get<0>(p.param) + "_" + std::get<1>(p.param));
                         });

class EchoConcurrentPolicy : public testing::TestWithParam<std::string> {};

// Every client connected and waiting at once; answered in the reverse order
// of connecting, which a server that serves one connection at a time cannot do.
TEST_P(EchoConcurrentPolicy, ServesSeveralClientsAtOnce) {
  constexpr int kClients = 6;
  TempDir dir;
  auto args = server_args("tcp", GetParam(), dir);
  args.insert(args.end(), {"--threads", std::to_string(kClients)});
  auto server = start_server(kEchoServer, args);

  std::vector<Client> clients;
  for (int i = 0; i < kClients; ++i) clients.push_back(connect_to(server.listening, dir));
  for (int i = kClients - 1; i >= 0; --i) {
    const std::string line = "client " + std::to_string(i) + "\n";
    clients[i].send_all(line);
    EXPECT_EQ(clients[i].recv_line(), line);
  }
  for (auto& c : clients) {
    c.shutdown_write();
    EXPECT_EQ(c.recv_until_eof(), "");
  }
  expect_clean_stop(server.process);
}

INSTANTIATE_TEST_SUITE_P(Samples, EchoConcurrentPolicy,
                         testing::Values("threading", "pool", "forking", "reactor"));

class EchoDatagramTransport : public testing::TestWithParam<std::tuple<std::string, std::string>> {
};

TEST_P(EchoDatagramTransport, EmptyDatagramComesBackEmpty) {
  const auto& [proto, policy] = GetParam();
  TempDir dir;
  auto server = start_server(kEchoServer, server_args(proto, policy, dir));
  Client client = connect_to(server.listening, dir);
  client.send_all("");
  EXPECT_EQ(client.recv_datagram(), "");
  client.send_all("after");  // and the server is still there
  EXPECT_EQ(client.recv_datagram(), "after");
  expect_clean_stop(server.process);
}

INSTANTIATE_TEST_SUITE_P(Samples, EchoDatagramTransport,
                         testing::Combine(testing::Values("udp", "unix-dgram"),
                                          testing::Values("threading", "reactor")),
                         [](const auto& p) {
                           return param_name(std::get<0>(p.param) + "_" + std::get<1>(p.param));
                         });

// The reactor's point: many connections open at once on a few threads, each
// answered in turn (here two loops and 200 connections).
TEST(SamplesEchoServer, ReactorServesManyOpenConnections) {
  TempDir dir;
  auto args = server_args("tcp", "reactor", dir);
  args.insert(args.end(), {"--loops", "2"});
  auto server = start_server(kEchoServer, args);
  std::vector<Client> clients;
  for (int i = 0; i < 200; ++i) clients.push_back(connect_to(server.listening, dir));
  for (int i = 199; i >= 0; --i) {
    const std::string line = "client " + std::to_string(i) + "\n";
    clients[i].send_all(line);
    EXPECT_EQ(clients[i].recv_line(), line);
  }
  expect_clean_stop(server.process);
}

TEST(SamplesEchoServer, ListensOnIpv6Loopback) {
  if (!ipv6_loopback_available()) GTEST_SKIP() << "no IPv6 loopback on this machine";
  for (const std::string proto : {"tcp", "udp"}) {
    auto server = start_server(kEchoServer, {"--proto", proto, "--host", "::1", "--port", "0"});
    EXPECT_EQ(server.listening.url, proto + "://[::1]:" + std::to_string(server.listening.port));
    EXPECT_EQ(server.listening.host, "::1");
    if (proto == "tcp") {
      Client client = Client::tcp("::1", server.listening.port);
      client.send_all("six\n");
      EXPECT_EQ(client.recv_line(), "six\n");
    } else {
      Client client = Client::udp("::1", server.listening.port);
      client.send_all("six");
      EXPECT_EQ(client.recv_datagram(), "six");
    }
    expect_clean_stop(server.process);
  }
}

}  // namespace
}  // namespace switchboard::test
