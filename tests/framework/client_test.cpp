// The client side: ClientConnection's rfile and wfile against a server, the
// errors a client can expect, and a datagram handler answering by hand.

#include <cerrno>
#include <string>
#include <system_error>

#include "helpers.hpp"

namespace sbt {
namespace {

using switchboard::ClientConnection;
using switchboard::handler;
using switchboard::StreamRequestHandler;

struct Echo : StreamRequestHandler {
  void handle() override {
    for (std::string line; !(line = rfile.readline()).empty();) wfile.write(line);
    wfile.write("bye\n");
  }
};

TEST(Client, ConnectionSpeaksLinesWithTheServer) {
  TempDir dir;
  switchboard::TCPServer tcp(Address("127.0.0.1", 0), handler<Echo>);
  switchboard::UnixStreamServer unix_stream(dir.file("s.sock"), handler<Echo>);
  ServeThread serving_tcp(tcp);
  ServeThread serving_unix(unix_stream);
  for (BaseServer* server :
       {static_cast<BaseServer*>(&tcp), static_cast<BaseServer*>(&unix_stream)}) {
    SCOPED_TRACE(server->url());
    auto c = switchboard::connect(server->server_address());
    c->wfile.write("one\n");
    c->wfile.write("two\n");
    EXPECT_EQ(c->rfile.readline(), "one\n");  // the read flushed both
    EXPECT_EQ(c->rfile.readline(), "two\n");
    c->shutdown_write();
    EXPECT_EQ(c->rfile.readline(), "bye\n") << "the server did not see the end of input";
    EXPECT_EQ(c->rfile.readline(), "");
  }
  ASSERT_TRUE(serving_tcp.stop());
  ASSERT_TRUE(serving_unix.stop());
}

TEST(Client, RefusedConnectNamesTheAddress) {
  switchboard::Socket unused = switchboard::Socket::open(AF_INET, SOCK_STREAM);
  const Address any("127.0.0.1", 0);
  ASSERT_EQ(::bind(unused.fd(), any.data(), any.size()), 0);
  const Address closed = unused.local_address();  // bound, never listening: refused
  try {
    ClientConnection c(closed);
    ADD_FAILURE() << "connected to a port nobody listens on";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ECONNREFUSED);
    EXPECT_NE(std::string(e.what()).find(closed.to_string()), std::string::npos) << e.what();
  }
}

struct Silent : StreamRequestHandler {
  void handle() override { rfile.read_some(); }
};

TEST(Client, AReadWaitsAtMostTheTimeout) {
  switchboard::TCPServer server(Address("127.0.0.1", 0), handler<Silent>);
  ServeThread serving(server);
  {
    ClientConnection c(server.server_address(), Seconds{0.2});
    try {
      c.rfile.readline();
      ADD_FAILURE() << "readline() returned from a silent server";
    } catch (const std::system_error& e) {
      EXPECT_EQ(e.code(), std::errc::timed_out) << e.what();
    }
  }  // closed: the serial server's one handler ends
  ASSERT_TRUE(serving.stop());
}

// Python's UDP example answers with socket.sendto(); here send_to() does,
// beside the reply written to wfile.
struct TwoReplies : switchboard::DatagramRequestHandler {
  void handle() override {
    send_to("by hand: " + packet(), client_address());
    wfile.write("reply: " + packet());
  }
};

TEST(Client, ADatagramHandlerSendsByHand) {
  TempDir dir;
  switchboard::UDPServer udp(Address("127.0.0.1", 0), handler<TwoReplies>);
  switchboard::UnixDatagramServer unix_dgram(dir.file("d.sock"), handler<TwoReplies>);
  ServeThread serving_udp(udp);
  ServeThread serving_unix(unix_dgram);
  for (BaseServer* server :
       {static_cast<BaseServer*>(&udp), static_cast<BaseServer*>(&unix_dgram)}) {
    SCOPED_TRACE(server->url());
    Client c = Client::to(*server, dir);
    c.send("x");
    EXPECT_EQ(c.recv(), "by hand: x");
    EXPECT_EQ(c.recv(), "reply: x");
  }
  ASSERT_TRUE(serving_udp.stop());
  ASSERT_TRUE(serving_unix.stop());
}

}  // namespace
}  // namespace sbt
