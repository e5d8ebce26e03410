// Addresses and URLs: port 0 resolved, the URL each server prints, IPv6
// loopback, and what Address formats and rejects.

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <system_error>

#include "helpers.hpp"

namespace sbt {
namespace {

using switchboard::handler;
using switchboard::StreamRequestHandler;
using switchboard::TCPServer;

TEST(Address, PortZeroIsResolvedAndTheUrlFormats) {
  TCPServer tcp(Address("127.0.0.1", 0), handler<StreamRequestHandler>);
  const auto port = tcp.server_address().port();
  EXPECT_NE(port, 0);
  EXPECT_EQ(tcp.server_address().host(), "127.0.0.1");
  EXPECT_EQ(tcp.url(), "tcp://127.0.0.1:" + std::to_string(port));
  switchboard::UDPServer udp(Address("127.0.0.1", 0), handler<StreamRequestHandler>);
  EXPECT_EQ(udp.url(), "udp://127.0.0.1:" + std::to_string(udp.server_address().port()));

  TempDir dir;
  switchboard::UnixStreamServer us(dir.file("s"), handler<StreamRequestHandler>);
  EXPECT_EQ(us.url(), "unix:" + dir.file("s"));
  switchboard::UnixDatagramServer ud(dir.file("d"), handler<StreamRequestHandler>);
  EXPECT_EQ(ud.url(), "unix-dgram:" + dir.file("d"));
}

bool have_ipv6_loopback() {
  Fd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return false;
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_addr = in6addr_loopback;
  return ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sin6), sizeof sin6) == 0;
}

// An IPv6 server serves IPv4 clients too unless told otherwise (the system's
// default, dual stack): shown on loopback with 127.0.0.1 in its IPv4-mapped
// form, which a socket that is IPv6 only cannot bind at all.
TEST(Address, Ipv6IsDualStackUnlessIpv6Only) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback here";
  TempDir dir;
  TCPServer tcp(Address("::ffff:127.0.0.1", 0), handler<LineEcho<StreamRequestHandler>>);
  ServeThread serving(tcp);
  switchboard::Socket v4 = switchboard::Socket::open(AF_INET, SOCK_STREAM);
  const Address to("127.0.0.1", tcp.server_address().port());
  ASSERT_EQ(::connect(v4.fd(), to.data(), to.size()), 0) << std::strerror(errno);
  v4.send_all("four\n");
  char reply[16] = {};
  EXPECT_EQ(::recv(v4.fd(), reply, sizeof reply, 0), 5);
  EXPECT_STREQ(reply, "four\n");
  ASSERT_TRUE(serving.stop());

  ServerOptions six_only;
  six_only.ipv6_only = true;
  EXPECT_THROW(
      TCPServer(Address("::ffff:127.0.0.1", 0), handler<LineEcho<StreamRequestHandler>>, six_only),
      std::system_error);
}

TEST(Address, Ipv6Loopback) {
  if (!have_ipv6_loopback()) GTEST_SKIP() << "no IPv6 loopback here";
  TempDir dir;
  TCPServer tcp(Address("::1", 0), handler<LineEcho<StreamRequestHandler>>);
  EXPECT_EQ(tcp.server_address().family(), AF_INET6);
  const auto port = tcp.server_address().port();
  EXPECT_NE(port, 0);
  EXPECT_EQ(tcp.url(), "tcp://[::1]:" + std::to_string(port));
  switchboard::UDPServer udp(Address("::1", 0),
                             handler<LineEcho<switchboard::DatagramRequestHandler>>);
  EXPECT_EQ(udp.url(), "udp://[::1]:" + std::to_string(udp.server_address().port()));
  ServeThread serving_tcp(tcp);
  ServeThread serving_udp(udp);
  EXPECT_EQ(roundtrip(tcp, dir, "six\n"), "six\n");
  EXPECT_EQ(roundtrip(udp, dir, "six\n"), "six\n");
  ASSERT_TRUE(serving_tcp.stop());
  ASSERT_TRUE(serving_udp.stop());
}

TEST(Address, FormatsAndRejects) {
  EXPECT_EQ(Address("127.0.0.1", 80).to_string(), "127.0.0.1:80");
  EXPECT_EQ(Address("::1", 443).to_string(), "[::1]:443");
  EXPECT_EQ(Address("[::1]", 443).to_string(), "[::1]:443");
  EXPECT_EQ(Address("", 7).to_string(), "0.0.0.0:7");
  EXPECT_EQ(Address::unix_path("/run/x.sock").to_string(), "/run/x.sock");
  EXPECT_EQ(Address().to_string(), "(unnamed)");
  EXPECT_THROW(Address::unix_path(""), std::invalid_argument);
  EXPECT_THROW(Address::unix_path(std::string(200, 'x')), std::invalid_argument);
}

}  // namespace
}  // namespace sbt
