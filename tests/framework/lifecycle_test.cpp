// The lifecycle: CPython's SocketServerTest (echo under every server, shutdown,
// close, bind leak, context manager) and MiscTestCase (verify_request), plus
// what switchboard promises about shutdown, handle_request and accept().

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <future>
#include <string>
#include <system_error>

#include "helpers.hpp"

namespace sbt {
namespace {

using switchboard::handler;
using switchboard::StreamRequestHandler;
using switchboard::TCPServer;

// --- echo three times, under every server ------------------------------------------

template <class S>
class EchoTest : public ::testing::Test {};
TYPED_TEST_SUITE(EchoTest, AllServers, ServerNames);

// CPython's run_server() with stream_examine/dgram_examine, and
// simple_subprocess around the forking ones.
TYPED_TEST(EchoTest, EchoesThreeTimes) {
  using S = TypeParam;
  TempDir dir;
  std::unique_ptr<OwnChild> own;
  if constexpr (is_forking_v<S>) own = std::make_unique<OwnChild>();
  {
    S server(bind_arg<S>(dir), handler<LineEcho<HandlerBaseFor<S>>>);
    EXPECT_EQ(server.server_address().to_string(), server.socket().local_address().to_string());
    ServeThread serving(server);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(roundtrip(server, dir), "hello world\n") << "round " << i;
    ASSERT_TRUE(serving.stop());
    server.server_close();
    EXPECT_FALSE(server.socket()) << "server_close() leaves the socket open";
    if constexpr (is_forking_v<S>) {
      EXPECT_EQ(server.active_children(), 0u);
    }
  }
  if (own) {
    EXPECT_TRUE(own->reap());
  }
}

// CPython's test_close_immediately, for every server.
TYPED_TEST(EchoTest, CloseRightAfterConstruction) {
  using S = TypeParam;
  TempDir dir;
  S server(bind_arg<S>(dir), handler<LineEcho<HandlerBaseFor<S>>>);
  server.server_close();
  EXPECT_FALSE(server.socket());
  server.server_close();  // idempotent
  EXPECT_FALSE(server.socket());
}

// --- make_server() picks the same servers by name -------------------------------------

struct NamePair {
  const char* first;   // transport
  const char* second;  // policy
};
void PrintTo(const NamePair& p, std::ostream* os) { *os << p.first << " " << p.second; }
class MakeServerTest : public ::testing::TestWithParam<NamePair> {};

TEST_P(MakeServerTest, EchoesThreeTimes) {
  const auto [transport_name, policy_name] = GetParam();
  const auto transport = switchboard::parse_transport(transport_name);
  const auto policy = switchboard::parse_policy(policy_name);
  EXPECT_EQ(switchboard::to_string(transport), transport_name);
  EXPECT_EQ(switchboard::to_string(policy), policy_name);
  TempDir dir;
  const bool ip =
      transport == switchboard::Transport::tcp || transport == switchboard::Transport::udp;
  const Address address = ip ? Address("127.0.0.1", 0) : Address::unix_path(dir.file("s.sock"));
  const HandlerFactory factory = switchboard::is_stream(transport)
                                     ? handler<LineEcho<StreamRequestHandler>>
                                     : handler<LineEcho<switchboard::DatagramRequestHandler>>;
  auto server = switchboard::make_server(transport, policy, address, factory);
  EXPECT_EQ(server->socket_type(), switchboard::is_stream(transport) ? SOCK_STREAM : SOCK_DGRAM);
  ServeThread serving(*server);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(roundtrip(*server, dir), "hello world\n") << "round " << i;
  ASSERT_TRUE(serving.stop());
  server->server_close();
  EXPECT_FALSE(server->socket());
}

std::vector<NamePair> all_names() {
  std::vector<NamePair> out;
  for (const char* t : {"tcp", "udp", "unix", "unix-dgram"})
    for (const char* p : {"serial", "threading", "pool", "forking", "reactor"})
      out.push_back({t, p});
  return out;
}

INSTANTIATE_TEST_SUITE_P(ByName, MakeServerTest, ::testing::ValuesIn(all_names()),
                         [](const auto& tpi) {
                           std::string name = std::string(tpi.param.first) + "_" + tpi.param.second;
                           for (auto& c : name)
                             if (c == '-') c = '_';
                           return name;
                         });

TEST(MakeServer, RejectsUnknownNamesListingTheValidOnes) {
  try {
    switchboard::parse_transport("sctp");
    ADD_FAILURE() << "parse_transport accepted sctp";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("tcp, udp, unix, unix-dgram"), std::string::npos)
        << e.what();
  }
  try {
    switchboard::parse_policy("reactorish");
    ADD_FAILURE() << "parse_policy accepted reactorish";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("serial, threading, pool, forking, reactor"),
              std::string::npos)
        << e.what();
  }
}

TEST(MakeServer, RejectsAnAddressOfTheWrongKind) {
  TempDir dir;
  const auto f = handler<LineEcho<StreamRequestHandler>>;
  EXPECT_THROW(switchboard::make_server(switchboard::Transport::tcp, switchboard::Policy::serial,
                                        Address::unix_path(dir.file("x")), f),
               std::invalid_argument);
  EXPECT_THROW(switchboard::make_server(switchboard::Transport::unix_stream,
                                        switchboard::Policy::pool, Address("127.0.0.1", 0), f),
               std::invalid_argument);
}

// --- shutdown -----------------------------------------------------------------------

// CPython's test_shutdown (issue #2302): shutdown() may come before
// serve_forever() has started on its thread; every loop still ends.
TEST(Shutdown, TwentyServersShutDownAsTheirLoopsStart) {
  constexpr int kServers = 20;
  std::vector<std::unique_ptr<TCPServer>> servers;
  std::vector<std::unique_ptr<ServeThread>> threads;
  for (int i = 0; i < kServers; ++i)
    servers.push_back(
        std::make_unique<TCPServer>(Address("127.0.0.1", 0), handler<StreamRequestHandler>));
  for (auto& s : servers) {
    threads.push_back(std::make_unique<ServeThread>(*s));
    s->shutdown();
  }
  for (int i = 0; i < kServers; ++i) {
    // A shutdown() that came first still ends the loop that starts after it.
    ASSERT_EQ(threads[i]->done().wait_for(kLimit), std::future_status::ready) << "server " << i;
    ASSERT_TRUE(threads[i]->stop());
    servers[i]->server_close();
  }
}

// A loop that reports its last turn and then waits for the test to let it end.
class HeldLoopServer : public TCPServer {
 public:
  using TCPServer::TCPServer;
  ~HeldLoopServer() override {
    release.open();
    shutdown();
    server_close();
  }
  std::promise<void> last_turn;
  Gate release;

 protected:
  void service_actions() override {
    if (shutdown_requested() && !reported_) {
      reported_ = true;
      last_turn.set_value();
      release.wait();
    }
  }

 private:
  bool reported_ = false;
};

// shutdown() is an event: it wakes an idle loop at once (no poll interval)
// and returns only after the loop has ended.
TEST(Shutdown, ReturnsOnlyAfterTheLoopHasEnded) {
  TempDir dir;
  HeldLoopServer server(Address("127.0.0.1", 0), handler<LineEcho<StreamRequestHandler>>);
  auto last_turn = server.last_turn.get_future();
  ServeThread serving(server);
  ASSERT_EQ(roundtrip(server, dir), "hello world\n");  // the loop is running and now idles

  auto stopper = std::async(std::launch::async, [&] { server.shutdown(); });
  ASSERT_EQ(last_turn.wait_for(kLimit), std::future_status::ready)
      << "shutdown() did not wake the idle loop";
  // The loop is held inside its last turn: shutdown() must still be waiting.
  EXPECT_EQ(stopper.wait_for(50ms), std::future_status::timeout)
      << "shutdown() returned while serve_forever() was still running";
  EXPECT_EQ(serving.done().wait_for(0s), std::future_status::timeout);
  server.release.open();
  ASSERT_EQ(stopper.wait_for(kLimit), std::future_status::ready);
  // shutdown() returned, so serve_forever() has at least finished its loop.
  ASSERT_EQ(serving.done().wait_for(kLimit), std::future_status::ready);
  ASSERT_TRUE(serving.stop());
}

TEST(Shutdown, BeforeServeForeverMakesTheNextLoopReturnAtOnce) {
  TCPServer server(Address("127.0.0.1", 0), handler<StreamRequestHandler>);
  auto stopper = std::async(std::launch::async, [&] { server.shutdown(); });
  ASSERT_EQ(stopper.wait_for(kLimit), std::future_status::ready)
      << "shutdown() with no loop running must not wait";
  ServeThread serving(server);
  ASSERT_EQ(serving.done().wait_for(kLimit), std::future_status::ready);
  ASSERT_TRUE(serving.stop());
}

TEST(Shutdown, ServeForeverCanRunAgainAfterShutdown) {
  TempDir dir;
  TCPServer server(Address("127.0.0.1", 0), handler<LineEcho<StreamRequestHandler>>);
  for (int round = 0; round < 3; ++round) {
    ServeThread serving(server);
    EXPECT_EQ(roundtrip(server, dir), "hello world\n") << "round " << round;
    ASSERT_TRUE(serving.stop()) << "round " << round;
  }
}

// A handler that asks the server to stop when it reads "stop\n".
struct StoppingHandler : StreamRequestHandler {
  void handle() override {
    const std::string line = rfile.readline();
    if (line == "stop\n") server().shutdown();
    wfile.write(line);
  }
};

template <class S>
class ShutdownFromHandler : public ::testing::Test {};
using InProcessTcp =
    ::testing::Types<switchboard::TCPServer, switchboard::ThreadingTCPServer,
                     switchboard::ThreadPoolTCPServer, switchboard::ReactorTCPServer>;
TYPED_TEST_SUITE(ShutdownFromHandler, InProcessTcp, ServerNames);

// From the serving thread shutdown() only asks; from a handler thread it waits
// for the loop, which does not wait for that handler: no deadlock either way.
TYPED_TEST(ShutdownFromHandler, DoesNotDeadlock) {
  TempDir dir;
  TypeParam server(Address("127.0.0.1", 0), handler<StoppingHandler>);
  ServeThread serving(server);
  EXPECT_EQ(roundtrip(server, dir, "one\n"), "one\n");
  EXPECT_EQ(roundtrip(server, dir, "stop\n"), "stop\n")
      << "the handler did not get past shutdown()";
  ASSERT_EQ(serving.done().wait_for(kLimit), std::future_status::ready)
      << "shutdown() from a handler did not end serve_forever()";
  ASSERT_TRUE(serving.stop());
  server.server_close();
}

// Echoes a line; the first one it serves asks the server to stop.
struct FirstStopsHandler : StreamRequestHandler {
  explicit FirstStopsHandler(std::shared_ptr<Count> c) : served(std::move(c)) {}
  void handle() override {
    served->add();
    const std::string line = rfile.readline();
    if (served->get() == 1) server().shutdown();
    wfile.write(line);
  }
  std::shared_ptr<Count> served;
};

// Three connections wait in the backlog; the first handler asks to stop: the
// loop must not go on to serve the other two.
TEST(Shutdown, NoConnectionIsServedAfterShutdownBegan) {
  auto served = std::make_shared<Count>();
  TCPServer server(Address("127.0.0.1", 0), factory_of<FirstStopsHandler>(served));
  std::vector<Client> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(Client::stream(server.server_address()));
    clients.back().send("x\n");
  }
  ServeThread serving(server);
  ASSERT_EQ(serving.done().wait_for(kLimit), std::future_status::ready);
  EXPECT_EQ(clients[0].recv_line(), "x\n");
  EXPECT_EQ(served->get(), 1);
  EXPECT_EQ(server.stats().total_requests, 1u);
  // Not shutdown() again: a shutdown() while no loop runs is kept for the next loop.
  ASSERT_TRUE(serving.join());
  // Not served, and not dropped either: they wait in the backlog for the next loop.
  ServeThread again(server);
  for (int i = 1; i < 3; ++i) EXPECT_EQ(clients[i].recv_line(), "x\n") << "client " << i;
  EXPECT_EQ(served->get(), 3);
  ASSERT_TRUE(again.stop());
}

struct CountingEcho : StreamRequestHandler {
  explicit CountingEcho(std::shared_ptr<Count> c) : served(std::move(c)) {}
  void handle() override {
    served->add();
    wfile.write(rfile.readline());
  }
  std::shared_ptr<Count> served;
};

TEST(Shutdown, NoConnectionIsServedAfterShutdownReturned) {
  TempDir dir;
  auto served = std::make_shared<Count>();
  switchboard::ThreadingTCPServer server(Address("127.0.0.1", 0), factory_of<CountingEcho>(served));
  ServeThread serving(server);
  EXPECT_EQ(roundtrip(server, dir), "hello world\n");
  ASSERT_TRUE(serving.stop());
  Client late = Client::stream(server.server_address());  // the backlog still takes it
  late.send("late\n");
  server.server_close();  // joins every handler thread it started
  EXPECT_EQ(served->get(), 1);
  const int e = late.next_eof();
  EXPECT_TRUE(e == 0 || e == ECONNRESET) << e;
}

// --- handle_request() --------------------------------------------------------------------

TEST(HandleRequest, CallsHandleTimeoutWhenNothingComes) {
  auto hooks = std::make_shared<Hooks>();
  ServerOptions options;
  options.request_timeout = Seconds{0.05};
  Hooked<TCPServer> server(hooks, Address("127.0.0.1", 0), handler<LineEcho<StreamRequestHandler>>,
                           options);
  server.handle_request();
  EXPECT_EQ(hooks->timeouts.load(), 1);
  EXPECT_EQ(server.stats().total_requests, 0u);
}

TEST(HandleRequest, ServesExactlyOneRequest) {
  auto hooks = std::make_shared<Hooks>();
  auto served = std::make_shared<Count>();
  ServerOptions options;
  options.request_timeout = Seconds{5};
  Hooked<TCPServer> server(hooks, Address("127.0.0.1", 0), factory_of<CountingEcho>(served),
                           options);
  Client a = Client::stream(server.server_address());
  Client b = Client::stream(server.server_address());
  a.send("a\n");
  b.send("b\n");
  server.handle_request();
  EXPECT_EQ(served->get(), 1);
  EXPECT_EQ(server.stats().total_requests, 1u);
  EXPECT_EQ(a.recv_line(), "a\n");
  server.handle_request();
  EXPECT_EQ(served->get(), 2);
  EXPECT_EQ(b.recv_line(), "b\n");
  EXPECT_EQ(hooks->timeouts.load(), 0);
}

// --- verify_request() ------------------------------------------------------------------------

struct CountingHandler : StreamRequestHandler {
  explicit CountingHandler(std::shared_ptr<Count> c) : made(std::move(c)) { made->add(); }
  void handle() override { wfile.write(rfile.readline()); }
  std::shared_ptr<Count> made;
};

template <class S>
class VerifyRequest : public ::testing::Test {};
TYPED_TEST_SUITE(VerifyRequest, StreamServers, ServerNames);

// CPython's test_shutdown_request_called_if_verify_request_false (issue #26309).
TYPED_TEST(VerifyRequest, FalseClosesTheConnectionExactlyOnce) {
  using S = TypeParam;
  TempDir dir;
  auto hooks = std::make_shared<Hooks>();
  auto made = std::make_shared<Count>();
  hooks->accept = false;
  Hooked<S> server(hooks, bind_arg<S>(dir), factory_of<CountingHandler>(made));
  Client c = Client::stream(server.server_address());
  server.handle_request();
  EXPECT_EQ(hooks->verifies.load(), 1);
  EXPECT_EQ(hooks->shutdowns.load(), 1);
  EXPECT_EQ(made->get(), 0) << "a handler was made for a rejected request";
  EXPECT_EQ(server.stats().rejected, 1u);
  EXPECT_EQ(c.next_eof(), 0) << "the rejected client did not see a clean end of stream";

  hooks->accept = true;  // the server goes on serving
  Client next = Client::stream(server.server_address());
  next.send("next\n");
  server.handle_request();
  EXPECT_EQ(next.recv_line(), "next\n");
  EXPECT_EQ(server.stats().rejected, 1u);
}

// --- binding, closing ----------------------------------------------------------------------

// CPython's test_tcpserver_bind_leak (issue #22435), with a port in use.
TEST(Bind, FailureLeaksNoDescriptor) {
  TCPServer holder(Address("127.0.0.1", 0), handler<StreamRequestHandler>);
  const Address taken("127.0.0.1", holder.server_address().port());
  const int before = open_fd_count();
  ASSERT_GT(before, 0);
  for (int i = 0; i < 1024; ++i) {
    try {
      TCPServer s(taken, handler<StreamRequestHandler>);
      ADD_FAILURE() << "bound a port in use";
      break;
    } catch (const std::system_error& e) {
      if (i == 0) {
        EXPECT_EQ(e.code(), std::errc::address_in_use) << e.what();
        EXPECT_NE(std::string(e.what()).find(taken.to_string()), std::string::npos)
            << "the error does not name the address: " << e.what();
      }
    }
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Bind, UdpFailureLeaksNoDescriptor) {
  switchboard::UDPServer holder(Address("127.0.0.1", 0), handler<StreamRequestHandler>);
  const Address taken("127.0.0.1", holder.server_address().port());
  const int before = open_fd_count();
  for (int i = 0; i < 256; ++i)
    EXPECT_THROW({ switchboard::UDPServer s(taken, handler<StreamRequestHandler>); },
                 std::system_error);
  EXPECT_EQ(open_fd_count(), before);
}

// CPython's test_context_manager: the destructor closes, and the port is free again.
TEST(Bind, DestructorReleasesThePort) {
  std::uint16_t port = 0;
  {
    TCPServer server(Address("127.0.0.1", 0), handler<StreamRequestHandler>);
    port = server.server_address().port();
  }
  {
    // A plain socket without SO_REUSEADDR: the port must be really free.
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const Address a("127.0.0.1", port);
    EXPECT_EQ(::bind(fd.get(), a.data(), a.size()), 0) << std::strerror(errno);
  }
  TCPServer again(Address("127.0.0.1", port), handler<StreamRequestHandler>);
  EXPECT_EQ(again.server_address().port(), port);
}

TEST(Bind, ServerCloseClosesTheSocket) {
  TCPServer server(Address("127.0.0.1", 0), handler<StreamRequestHandler>);
  const Address a = server.server_address();
  server.server_close();
  EXPECT_FALSE(server.socket());
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  EXPECT_EQ(::connect(fd.get(), a.data(), a.size()), -1);
  EXPECT_EQ(errno, ECONNREFUSED);
}

TEST(Bind, FailureLeaksNothingUnderAnyPolicy) {
  TCPServer holder(Address("127.0.0.1", 0), handler<StreamRequestHandler>);
  const Address taken("127.0.0.1", holder.server_address().port());
  const int before = open_fd_count();
  for (auto policy :
       {switchboard::Policy::threading, switchboard::Policy::pool, switchboard::Policy::forking}) {
    for (int i = 0; i < 64; ++i) {
      EXPECT_THROW(switchboard::make_server(switchboard::Transport::tcp, policy, taken,
                                            handler<StreamRequestHandler>),
                   std::system_error);
    }
  }
  EXPECT_EQ(open_fd_count(), before);
}

TEST(Bind, ReusePortLetsTwoServersShareAPort) {
  ServerOptions options;
  options.reuse_port = true;
  TCPServer a(Address("127.0.0.1", 0), handler<StreamRequestHandler>, options);
  TCPServer b(Address("127.0.0.1", a.server_address().port()), handler<StreamRequestHandler>,
              options);
  EXPECT_EQ(a.server_address().port(), b.server_address().port());
}

// Reports whether its connection has TCP_NODELAY.
struct NoDelayProbe : StreamRequestHandler {
  void handle() override {
    int value = 0;
    socklen_t len = sizeof value;
    ::getsockopt(request().connection.fd(), IPPROTO_TCP, TCP_NODELAY, &value, &len);
    wfile.write(value ? "nodelay\n" : "delay\n");
  }
};

TEST(Options, TcpNodelayIsOnByDefaultAndCanBeTurnedOff) {
  TCPServer on(Address("127.0.0.1", 0), handler<NoDelayProbe>);
  ServerOptions options;
  options.tcp_nodelay = false;
  TCPServer off(Address("127.0.0.1", 0), handler<NoDelayProbe>, options);
  for (auto* server : {&on, &off}) {
    Client c = Client::stream(server->server_address());
    server->handle_request();
    EXPECT_EQ(c.recv_line(), server == &on ? "nodelay\n" : "delay\n");
  }
}

// --- accept() --------------------------------------------------------------------------------

// Out of descriptors, a waiting client is accepted on the spare descriptor and
// closed at once: it sees the refusal instead of hanging in the backlog, and
// the accept loop does not spin. Once descriptors free up, clients are served.
TEST(Accept, OutOfDescriptorsRefusesAtOnceAndRecovers) {
  auto state = std::make_shared<GateState>();
  switchboard::ThreadingTCPServer server(Address("127.0.0.1", 0),
                                         factory_of<GatedEcho<StreamRequestHandler>>(state));
  ServeThread serving(server);
  Client first = Client::stream(server.server_address());
  first.send("first\n");
  ASSERT_TRUE(state->entered.wait_for(1));  // holds a descriptor until the gate opens

  // Room for one more descriptor: the next client's socket, not its accepted side.
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  const int a = ::dup(0);
  const int b = ::dup(0);
  ::close(a);
  ::close(b);
  ASSERT_LT(a, b);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(b);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::unique_ptr<Client> second;
  try {
    second = std::make_unique<Client>(Client::stream(server.server_address()));
  } catch (...) {
    ::setrlimit(RLIMIT_NOFILE, &old);
    throw;
  }
  const int end = second->next_eof();
  const bool refused = wait_until([&] { return server.stats().refused == 1; });
  ::setrlimit(RLIMIT_NOFILE, &old);
  EXPECT_TRUE(end == 0 || end == ECONNRESET) << "the refused client saw " << end;
  EXPECT_TRUE(refused) << "refused = " << server.stats().refused;
  EXPECT_GE(server.stats().accept_errors, 1u);

  state->gate.open();  // the first handler ends and frees its descriptor
  EXPECT_EQ(first.recv_line(), "first\n");
  Client third = Client::stream(server.server_address());
  third.send("third\n");
  EXPECT_EQ(third.recv_line(), "third\n") << "the server did not recover from EMFILE";
  EXPECT_LT(server.stats().accept_errors, 100u) << "accept() was retried in a loop";
  ASSERT_TRUE(serving.stop());
}

}  // namespace
}  // namespace sbt

namespace sbt {
namespace {

// Python's bind_and_activate=False: the caller binds and activates, and an
// override of server_bind() sets a socket option of its own before the bind.
template <class S>
class BindHooks : public ::testing::Test {};
TYPED_TEST_SUITE(BindHooks, AllServers, ServerNames);

template <class S>
struct KeepAlive : S {
  using S::S;
  ~KeepAlive() override {  // the rule for subclasses that override hooks (server.hpp)
    this->shutdown();
    this->server_close();
  }
  void server_bind() override {
    this->socket().set_option(SOL_SOCKET, SO_KEEPALIVE, 1);  // before the bind, as a user would
    S::server_bind();
    bound = true;
  }
  bool bound = false;
};

TYPED_TEST(BindHooks, ServerBindAndActivateAreHooksTheCallerRuns) {
  using S = TypeParam;
  TempDir dir;
  ServerOptions options;
  options.bind_and_activate = false;
  KeepAlive<S> server(bind_arg<S>(dir), handler<LineEcho<HandlerBaseFor<S>>>, options);
  EXPECT_FALSE(server.bound);
  EXPECT_THROW(server.serve_forever(), std::logic_error) << "served before it was bound";
  EXPECT_THROW(server.server_activate(), std::logic_error);
  server.server_bind();
  server.server_activate();
  EXPECT_TRUE(server.bound);
  int keepalive = 0;
  socklen_t len = sizeof keepalive;
  ASSERT_EQ(::getsockopt(server.socket().fd(), SOL_SOCKET, SO_KEEPALIVE, &keepalive, &len), 0);
  EXPECT_EQ(keepalive, 1);
  EXPECT_THROW(server.server_bind(), std::logic_error) << "bound twice";
  ServeThread serving(server);
  EXPECT_EQ(roundtrip(server, dir), "hello world\n");
  ASSERT_TRUE(serving.stop());
}

}  // namespace
}  // namespace sbt
