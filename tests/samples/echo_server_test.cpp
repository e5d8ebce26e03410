// echo_server as a user runs it: every transport under every policy, the
// stream edge cases (half-close, over-long lines), datagram edge cases, IPv6.

#include <signal.h>
#include <sys/socket.h>

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

class EchoTcpEveryPolicy : public testing::TestWithParam<std::string> {};

// After the client half-closes, what remains (a last line without '\n') comes
// back, then the server closes.
TEST_P(EchoTcpEveryPolicy, HalfCloseEchoesTheRestThenCloses) {
  TempDir dir;
  auto server = start_server(kEchoServer, server_args("tcp", GetParam(), dir));
  Client client = connect_to(server.listening, dir);
  client.send_all("abc\ndef");
  client.shutdown_write();
  EXPECT_EQ(client.recv_until_eof(), "abc\ndef");
  EXPECT_FALSE(client.was_reset());
  expect_clean_stop(server.process);
}

INSTANTIATE_TEST_SUITE_P(Samples, EchoTcpEveryPolicy, testing::ValuesIn(kPolicies));

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

class EchoMaxLine : public testing::TestWithParam<std::string> {};

TEST_P(EchoMaxLine, OverLongLineEndsTheConnectionWithoutEchoingAPrefix) {
  TempDir dir;
  auto args = server_args("tcp", GetParam(), dir);
  args.insert(args.end(), {"--max-line", "16"});
  auto server = start_server(kEchoServer, args);

  Client client = connect_to(server.listening, dir);
  const std::string fits = "123456789012345\n";  // 16 bytes with its '\n'
  client.send_all(fits);
  EXPECT_EQ(client.recv_line(), fits);
  client.send_all("1234567890123456\n");  // 17
  EXPECT_EQ(client.recv_until_eof(), "");

  // Another connection is served as usual.
  Client next = connect_to(server.listening, dir);
  next.send_all("ok\n");
  EXPECT_EQ(next.recv_line(), "ok\n");
  next.shutdown_write();
  EXPECT_EQ(next.recv_until_eof(), "");
  expect_clean_stop(server.process);
}

INSTANTIATE_TEST_SUITE_P(Samples, EchoMaxLine, testing::Values("threading", "reactor"));

// The reactor's point: many connections open at once on a few threads, each
// answered in turn (here two loops and 200 connections).
TEST(SamplesEchoServer, ReactorServesManyOpenConnections) {
  TempDir dir;
  auto args = server_args("tcp", "reactor", dir);
  args.insert(args.end(), {"--threads", "2"});
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
