// adopt_socket(): a server serves on a socket it is given (inherited, or
// systemd's) instead of binding one, and borrows it: closing or draining the
// server leaves the socket, its backlog and its Unix file to their next
// owner. The test holds the socket as that other owner would.

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

#include "helpers.hpp"

namespace sbt {
namespace {

using switchboard::Socket;

template <class S>
constexpr int socket_type_of() {
  return is_datagram_v<S> ? SOCK_DGRAM : SOCK_STREAM;
}

// A bound socket, as a parent or systemd makes it: on 127.0.0.1 port 0 or at
// `path`; a stream socket listens.
Fd given_socket(int type, const std::string& path = {}) {
  const Address at = path.empty() ? Address("127.0.0.1", 0) : Address::unix_path(path);
  Fd fd(::socket(at.family(), type | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) throw std::system_error(errno, std::generic_category(), "socket");
  if (::bind(fd.get(), at.data(), at.size()) < 0)
    throw std::system_error(errno, std::generic_category(), "bind");
  if (type == SOCK_STREAM && ::listen(fd.get(), SOMAXCONN) < 0)
    throw std::system_error(errno, std::generic_category(), "listen");
  return fd;
}

template <class S>
Fd given_socket_for(const TempDir& dir) {
  return given_socket(socket_type_of<S>(), is_unix_v<S> ? dir.file("given.sock") : "");
}

Address local_address(const Fd& fd) {
  sockaddr_storage storage{};
  socklen_t len = sizeof storage;
  if (::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&storage), &len) < 0)
    throw std::system_error(errno, std::generic_category(), "getsockname");
  return Address::from_sockaddr(reinterpret_cast<sockaddr*>(&storage), len);
}

// The server's own descriptor of the socket; the test keeps `fd`.
Socket dup_of(const Fd& fd) { return Socket(::fcntl(fd.get(), F_DUPFD_CLOEXEC, 0)); }

// No address: the socket comes from adopt_socket().
template <class S>
auto no_address() {
  if constexpr (is_unix_v<S>) {
    return std::string_view{};
  } else {
    return Address{};
  }
}

ServerOptions adopting() {
  ServerOptions o;
  o.bind_and_activate = false;
  o.threads = 2;
  o.loops = 2;
  return o;
}

bool readable(const Fd& fd) {
  pollfd p{fd.get(), POLLIN, 0};
  return ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kLimit).count())) == 1;
}

// The test, as the socket's other holder, accepts a connection on it.
Fd accept_on(const Fd& listener) {
  if (!readable(listener)) return Fd();
  return Fd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
}

template <class S>
std::unique_ptr<S> adopted_server(const Fd& given, HandlerFactory factory) {
  auto server = std::make_unique<S>(no_address<S>(), std::move(factory), adopting());
  server->adopt_socket(dup_of(given));
  return server;
}

template <class S>
class Adopt : public ::testing::Test {};
TYPED_TEST_SUITE(Adopt, AllServers, ServerNames);

TYPED_TEST(Adopt, ServesOnTheGivenSocketAndLeavesItToItsHolder) {
  using S = TypeParam;
  TempDir dir;
  Fd given = given_socket_for<S>(dir);
  const Address address = local_address(given);
  auto server = adopted_server<S>(given, factory_of<LineEcho<HandlerBaseFor<S>>>());
  EXPECT_TRUE(server->socket_borrowed());
  EXPECT_EQ(server->server_address().to_string(), address.to_string());
  {
    ServeThread serving(*server);
    EXPECT_EQ(roundtrip(*server, dir), "hello world\n");
    EXPECT_EQ(roundtrip(*server, dir, "again\n"), "again\n");
    ASSERT_TRUE(serving.stop());
  }
  server->server_close();

  // The socket is still the test's, whole: its file, its port, listening.
  if constexpr (is_unix_v<S>) {
    EXPECT_TRUE(std::filesystem::is_socket(address.path()));
  }
  if constexpr (is_datagram_v<S>) {
    Client c = is_unix_v<S> ? Client::datagram(address, dir.file("client.sock"))
                            : Client::datagram(address);
    c.send("still here");
    ASSERT_TRUE(readable(given));
    char buffer[64];
    EXPECT_EQ(::recv(given.get(), buffer, sizeof buffer, 0), 10);
  } else {
    Client c = Client::stream(address);
    Fd accepted = accept_on(given);
    ASSERT_GE(accepted.get(), 0) << "the listener stopped listening";
    c.send("x");
    char byte = 0;
    EXPECT_EQ(::recv(accepted.get(), &byte, 1, 0), 1);
  }
}

// Restarts that drop nothing: a connection made after the first server
// drained and closed waits in the backlog (nothing reset, nothing refused)
// for the next server adopting the socket; the holder may accept one itself.
template <class S>
class AdoptDrain : public ::testing::Test {};
TYPED_TEST_SUITE(AdoptDrain, StreamServers, ServerNames);

TYPED_TEST(AdoptDrain, QueuedConnectionWaitsForTheNextOwner) {
  using S = TypeParam;
  TempDir dir;
  Fd given = given_socket_for<S>(dir);
  const Address address = local_address(given);
  const HandlerFactory echo = factory_of<LineEcho<HandlerBaseFor<S>>>();

  auto first = adopted_server<S>(given, echo);
  {
    ServeThread serving(*first);
    EXPECT_EQ(roundtrip(*first, dir), "hello world\n");
    first->drain();
    ASSERT_TRUE(serving.join());
  }
  first->server_close();
  first.reset();

  Client mine = Client::stream(address);  // connects: the socket still listens
  Client queued = Client::stream(address);
  queued.send("after the drain\n");
  Fd accepted = accept_on(given);  // the first in the backlog
  ASSERT_GE(accepted.get(), 0);
  mine.send("x");
  char byte = 0;
  EXPECT_EQ(::recv(accepted.get(), &byte, 1, 0), 1);

  auto second = adopted_server<S>(given, echo);
  ServeThread serving(*second);
  EXPECT_EQ(queued.recv_line(), "after the drain\n");
  ASSERT_TRUE(serving.stop());
}

// The listener's options are its holders', not ours: what accepted
// connections would inherit from it is set on each connection instead.
struct NoDelayReport : switchboard::StreamRequestHandler {
  void handle() override {
    int on = 0;
    socklen_t len = sizeof on;
    ::getsockopt(request().connection.fd(), IPPROTO_TCP, TCP_NODELAY, &on, &len);
    wfile.write(std::to_string(on) + "\n");
  }
};

template <class S>
class AdoptOptions : public ::testing::Test {};
using TcpServers = ::testing::Types<switchboard::TCPServer, switchboard::ThreadPoolTCPServer,
                                    switchboard::ReactorTCPServer>;
TYPED_TEST_SUITE(AdoptOptions, TcpServers, ServerNames);

TYPED_TEST(AdoptOptions, ListenerIsUntouchedAndConnectionsGetTheOptions) {
  Fd given = given_socket(SOCK_STREAM);
  auto server = adopted_server<TypeParam>(given, switchboard::handler<NoDelayReport>);
  ServeThread serving(*server);
  Client c = Client::stream(server->server_address());
  EXPECT_EQ(c.recv_line(), "1\n");
  int on = 1;
  socklen_t len = sizeof on;
  ASSERT_EQ(::getsockopt(given.get(), IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
  EXPECT_EQ(on, 0);
  timeval tv{1, 0};
  len = sizeof tv;
  ASSERT_EQ(::getsockopt(given.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, &len), 0);
  EXPECT_EQ(tv.tv_sec, 0);
  EXPECT_EQ(tv.tv_usec, 0);
  ASSERT_TRUE(serving.stop());
}

// socket_per_loop would bind sockets of our own on the port (and fail: the
// given socket has no SO_REUSEPORT); an adopted socket is read by one loop.
TEST(Adopt, ReactorUdpWithSocketPerLoopReadsTheOneSocket) {
  TempDir dir;
  Fd given = given_socket(SOCK_DGRAM);
  ServerOptions options = adopting();
  options.socket_per_loop = true;
  switchboard::ReactorUDPServer server(
      Address{}, factory_of<LineEcho<HandlerBaseFor<switchboard::UDPServer>>>(), options);
  server.adopt_socket(dup_of(given));
  ServeThread serving(server);
  for (int i = 0; i < 8; ++i) EXPECT_EQ(roundtrip(server, dir), "hello world\n");
  ASSERT_TRUE(serving.stop());
}

TEST(Adopt, MakeServerTakesASocket) {
  TempDir dir;
  Fd given = given_socket(SOCK_STREAM, dir.file("given.sock"));
  auto server = switchboard::make_server(switchboard::Transport::unix_stream,
                                         switchboard::Policy::pool, dup_of(given),
                                         factory_of<LineEcho<switchboard::StreamRequestHandler>>());
  EXPECT_EQ(server->url(), "unix:" + dir.file("given.sock"));
  ServeThread serving(*server);
  EXPECT_EQ(roundtrip(*server, dir), "hello world\n");
  ASSERT_TRUE(serving.stop());
  server->server_close();
  EXPECT_TRUE(std::filesystem::is_socket(dir.file("given.sock")));  // not ours to remove
}

// --- what cannot be adopted --------------------------------------------------

const HandlerFactory kEcho = factory_of<LineEcho<switchboard::StreamRequestHandler>>();

// The message adopt_socket() threw, or "" if it threw nothing or something else.
template <class Error, class S>
std::string adopt_error(S& server, Socket socket) {
  try {
    server.adopt_socket(std::move(socket));
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("another error: ") + e.what();
  }
  return {};
}

std::string named(const Socket& s) { return "descriptor " + std::to_string(s.fd()); }

TEST(AdoptErrors, DatagramSocketForAStreamServer) {
  Fd given = given_socket(SOCK_DGRAM);
  switchboard::TCPServer server(Address{}, kEcho, adopting());
  Socket s = dup_of(given);
  const std::string name = named(s);
  const std::string what = adopt_error<std::invalid_argument>(server, std::move(s));
  EXPECT_NE(what.find(name + " is a UDP socket"), std::string::npos) << what;
  EXPECT_NE(what.find("needs a listening TCP or Unix stream socket"), std::string::npos) << what;
}

TEST(AdoptErrors, StreamSocketForADatagramServer) {
  Fd given = given_socket(SOCK_STREAM);
  switchboard::UDPServer server(Address{}, kEcho, adopting());
  const std::string what = adopt_error<std::invalid_argument>(server, dup_of(given));
  EXPECT_NE(what.find("is a TCP socket"), std::string::npos) << what;
}

TEST(AdoptErrors, UnixSocketForAnIpServer) {
  TempDir dir;
  Fd given = given_socket(SOCK_STREAM, dir.file("given.sock"));
  switchboard::TCPServer server(Address("127.0.0.1", 0), kEcho, adopting());
  const std::string what = adopt_error<std::invalid_argument>(server, dup_of(given));
  EXPECT_NE(what.find("is a Unix stream socket; this server needs a listening TCP socket"),
            std::string::npos)
      << what;
  EXPECT_THROW(switchboard::make_server(switchboard::Transport::tcp, switchboard::Policy::serial,
                                        dup_of(given), kEcho),
               std::invalid_argument);
}

TEST(AdoptErrors, StreamSocketThatDoesNotListen) {
  Fd bound(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  const Address any("127.0.0.1", 0);
  ASSERT_EQ(::bind(bound.get(), any.data(), any.size()), 0);
  switchboard::TCPServer server(Address{}, kEcho, adopting());
  const std::string what = adopt_error<std::invalid_argument>(server, dup_of(bound));
  EXPECT_NE(what.find("is a TCP socket that is not listening"), std::string::npos) << what;
}

TEST(AdoptErrors, DatagramSocketThatIsNotBound) {
  Fd unbound(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  switchboard::UDPServer server(Address{}, kEcho, adopting());
  const std::string what = adopt_error<std::invalid_argument>(server, dup_of(unbound));
  EXPECT_NE(what.find("is a UDP socket that is not bound"), std::string::npos) << what;
}

TEST(AdoptErrors, NotASocket) {
  switchboard::TCPServer server(Address{}, kEcho, adopting());
  Socket event(::eventfd(0, EFD_CLOEXEC));
  const std::string name = named(event);
  try {
    server.adopt_socket(std::move(event));
    ADD_FAILURE() << "an eventfd was adopted";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::not_a_socket);
    EXPECT_NE(std::string(e.what()).find(name + " is not a socket"), std::string::npos) << e.what();
  }
}

TEST(AdoptErrors, OnlyOnce) {
  Fd given = given_socket(SOCK_STREAM);
  switchboard::TCPServer adopted(Address{}, kEcho, adopting());
  adopted.adopt_socket(dup_of(given));
  EXPECT_THROW(adopted.adopt_socket(dup_of(given)), std::logic_error);
  switchboard::TCPServer bound(Address("127.0.0.1", 0), kEcho);
  EXPECT_THROW(bound.adopt_socket(dup_of(given)), std::logic_error);
}

TEST(AdoptErrors, NoAddressNeedsAnAdoptedSocket) {
  EXPECT_THROW(switchboard::TCPServer(Address{}, kEcho), std::invalid_argument);
  EXPECT_THROW(switchboard::UnixStreamServer("", kEcho), std::invalid_argument);
  switchboard::TCPServer server(Address{}, kEcho, adopting());
  EXPECT_THROW(server.server_bind(), std::logic_error);
  EXPECT_THROW(server.serve_forever(), std::logic_error);
}

}  // namespace
}  // namespace sbt
