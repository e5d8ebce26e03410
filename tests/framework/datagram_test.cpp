// Datagram servers: oversized datagrams are dropped and reported (never
// echoed cut short), an empty datagram is answered with an empty one, and a
// handler that writes nothing sends nothing.

#include <sys/socket.h>

#include <string>

#include "helpers.hpp"

namespace sbt {
namespace {

using switchboard::DatagramRequestHandler;
using switchboard::handler;

// Echoes the whole datagram, except "silent", which gets no reply.
struct PacketEcho : DatagramRequestHandler {
  void handle() override {
    if (packet() != "silent") wfile.write(packet());
  }
};

template <class S>
class Datagrams : public ::testing::Test {};
using DatagramServers =
    ::testing::Types<switchboard::UDPServer, switchboard::ThreadingUDPServer,
                     switchboard::ThreadPoolUDPServer, switchboard::ForkingUDPServer,
                     switchboard::UnixDatagramServer, switchboard::ThreadingUnixDatagramServer,
                     switchboard::ThreadPoolUnixDatagramServer,
                     switchboard::ForkingUnixDatagramServer, switchboard::ReactorUDPServer,
                     switchboard::ReactorUnixDatagramServer>;
TYPED_TEST_SUITE(Datagrams, DatagramServers, ServerNames);

TYPED_TEST(Datagrams, OversizedIsDroppedAndReportedNeverCut) {
  using S = TypeParam;
  TempDir dir;
  auto hooks = std::make_shared<Hooks>();
  ServerOptions options;
  options.max_datagram = 100;
  Hooked<S> server(hooks, bind_arg<S>(dir), handler<PacketEcho>, options);
  ServeThread serving(server);
  Client c = Client::to(server, dir);
  const std::string fits(100, 'f');
  c.send(fits);
  EXPECT_EQ(c.recv(), fits) << "a datagram of exactly max_datagram bytes must be served";
  c.send(std::string(101, 'a'));
  c.send(std::string(5000, 'b'));
  c.send("small");
  EXPECT_EQ(c.recv(), "small") << "an oversized datagram was answered";
  const auto stats = server.stats();
  EXPECT_EQ(stats.dropped_datagrams, 2u);
  EXPECT_EQ(hooks->errors.load(), 2);
  const auto what = hooks->what();
  ASSERT_EQ(what.size(), 2u);
  EXPECT_NE(what[0].find("max_datagram"), std::string::npos) << what[0];
  EXPECT_EQ(stats.total_requests, 2u) << "dropped datagrams are not requests served";
  ASSERT_TRUE(serving.stop());
}

TYPED_TEST(Datagrams, EmptyIsEchoedEmpty) {
  using S = TypeParam;
  TempDir dir;
  S server(bind_arg<S>(dir), handler<PacketEcho>);
  ServeThread serving(server);
  Client c = Client::to(server, dir);
  c.send("");
  EXPECT_EQ(c.recv(), "");
  c.send("after");
  EXPECT_EQ(c.recv(), "after");
  ASSERT_TRUE(serving.stop());
}

TYPED_TEST(Datagrams, NothingWrittenNothingSent) {
  using S = TypeParam;
  TempDir dir;
  S server(bind_arg<S>(dir), handler<PacketEcho>);
  ServeThread serving(server);
  Client c = Client::to(server, dir);
  c.send("silent");
  c.send("loud");
  EXPECT_EQ(c.recv(), "loud");
  ASSERT_TRUE(serving.stop());
}

// A client on an unbound Unix datagram socket has no address to answer; the
// server skips the reply and goes on.
TEST(UnixDatagram, UnboundClientIsSkippedNotAnError) {
  TempDir dir;
  auto hooks = std::make_shared<Hooks>();
  Hooked<switchboard::UnixDatagramServer> server(hooks, dir.file("d.sock"), handler<PacketEcho>);
  ServeThread serving(server);
  Client unbound = Client::datagram(server.server_address());
  unbound.send("nobody");
  EXPECT_EQ(roundtrip(server, dir, "somebody"), "somebody");
  EXPECT_TRUE(wait_until([&] { return server.stats().total_requests == 2; }));
  EXPECT_EQ(hooks->errors.load(), 0);
  EXPECT_EQ(server.stats().handler_errors, 0u);
  ASSERT_TRUE(serving.stop());
}

}  // namespace
}  // namespace sbt
