// One handler run for every policy and handler kind: the hooks a user
// overrides (finish_request(), handle_error(), shutdown_request()) hold under
// every server class, the reactor's included, for blocking, restartable and
// coroutine handlers; a request the server cuts at its close deadline never
// reaches a handler as data; a handler's kind comes from its type, and
// nothing is made to find it out.

#include <future>
#include <stdexcept>
#include <string>

#include "helpers.hpp"
#include "switchboard/coroutine.hpp"

namespace sbt {
namespace {

using switchboard::AsyncDatagramRequestHandler;
using switchboard::AsyncStreamRequestHandler;
using switchboard::DatagramRequestHandler;
using switchboard::HandlerKind;
using switchboard::StreamRequestHandler;

// Where a handler or hook says what it saw: a file, since a forked child's
// handler runs in another process.
struct Log {
  std::string path;
  void add(const std::string& line) const { append_file(path, line + "\n"); }
  std::string text() const { return read_file(path); }
  int count(const std::string& line) const {
    const std::string all = text();
    int n = 0;
    for (std::size_t at = 0; (at = all.find(line + "\n", at)) != std::string::npos;
         at += line.size())
      ++n;
    return n;
  }
};

// --- handlers of each kind: echo lines (datagrams), "boom" throws ----------------------

struct Blocking : StreamRequestHandler {
  void handle() override {
    for (std::string line; !(line = rfile.readline()).empty();) {
      if (line == "boom\n") throw std::runtime_error("boom");
      wfile.write(line);
    }
  }
};
struct Restartable : Blocking {
  static constexpr bool restartable = true;
};
struct Coroutine : AsyncStreamRequestHandler {
  asio::awaitable<void> handle_async() override {
    for (std::string line = co_await rfile.readline(); !line.empty();
         line = co_await rfile.readline()) {
      if (line == "boom\n") throw std::runtime_error("boom");
      co_await wfile.write(line);
    }
  }
};
struct BlockingDatagram : DatagramRequestHandler {
  void handle() override {
    if (packet() == "boom") throw std::runtime_error("boom");
    wfile.write(packet());
  }
};
struct CoroutineDatagram : AsyncDatagramRequestHandler {
  asio::awaitable<void> handle_async() override {
    if (packet() == "boom") throw std::runtime_error("boom");
    wfile.write(packet());
    co_return;
  }
};

static_assert(switchboard::handler_kind_of<Blocking>() == HandlerKind::blocking);
static_assert(switchboard::handler_kind_of<Restartable>() == HandlerKind::restartable);
static_assert(switchboard::handler_kind_of<Coroutine>() == HandlerKind::coroutine);
static_assert(switchboard::handler_kind_of<CoroutineDatagram>() == HandlerKind::coroutine);

// A server whose lifecycle hooks write to a log, then do what the base does.
template <class S>
class Watched : public S {
 public:
  template <class... Args>
  explicit Watched(Log log, Args&&... args)
      : S(std::forward<Args>(args)...), log_(std::move(log)) {}
  ~Watched() override {
    this->shutdown();
    this->server_close();
  }

 protected:
  void finish_request(Request& r) override {
    log_.add("finish_request");
    S::finish_request(r);
  }
  void handle_error(const Request&) override {
    try {
      throw;
    } catch (const std::exception& e) {
      log_.add(std::string("handle_error: ") + e.what());
    }
  }
  void shutdown_request(Request& r) override {
    log_.add("shutdown_request");
    S::shutdown_request(r);
  }

 private:
  Log log_;
};

template <class S>
class HandlerRunTest : public ::testing::Test {};
TYPED_TEST_SUITE(HandlerRunTest, AllServers, ServerNames);

// One request served, one that throws: finish_request() ran for each (its
// override observed), handle_error() reported the throw, shutdown_request()
// closed each, whatever the handler's kind.
template <class S, class Handler>
void hooks_hold(const TempDir& dir, const std::string& kind) {
  SCOPED_TRACE(kind);
  const Log log{dir.file(kind + ".log")};
  ServerOptions options;
  options.loops = 1;
  options.threads = 2;
  {
    Watched<S> server(log, bind_arg<S>(dir), switchboard::handler<Handler>, options);
    ServeThread serving(server);
    if constexpr (is_datagram_v<S>) {
      Client c = Client::to(server, dir);
      c.send("x");
      EXPECT_EQ(c.recv(), "x");
      c.send("boom");
    } else {
      Client c = Client::to(server, dir);
      c.send("x\n");
      EXPECT_EQ(c.recv_line(), "x\n");
      c.send("boom\n");
      EXPECT_EQ(c.next_eof(), 0) << "the connection did not end after the handler threw";
    }
    EXPECT_TRUE(wait_until([&] { return log.count("handle_error: boom") == 1; })) << log.text();
    const int requests = is_datagram_v<S> ? 2 : 1;
    EXPECT_TRUE(wait_until([&] { return log.count("shutdown_request") == requests; }))
        << log.text();
    EXPECT_EQ(log.count("finish_request"), requests) << log.text();
    if constexpr (!is_forking_v<S>) {
      EXPECT_EQ(server.stats().handler_errors, 1u);
    }
    ASSERT_TRUE(serving.stop());
  }
}

TYPED_TEST(HandlerRunTest, OverriddenHooksHoldForEveryHandlerKind) {
  using S = TypeParam;
  TempDir dir;
  if constexpr (is_datagram_v<S>) {
    hooks_hold<S, BlockingDatagram>(dir, "blocking");
    hooks_hold<S, CoroutineDatagram>(dir, "coroutine");
  } else {
    hooks_hold<S, Blocking>(dir, "blocking");
    hooks_hold<S, Restartable>(dir, "restartable");
    hooks_hold<S, Coroutine>(dir, "coroutine");
  }
}

// --- a cut is never input ---------------------------------------------------------------

// Logs every line it is given, and how its reading ended.
template <class Base>
struct Recording : Base {
  explicit Recording(Log l) : log(std::move(l)) {}
  void handle() override {
    try {
      for (std::string line; !(line = this->rfile.readline()).empty();) {
        log.add("line: " + line.substr(0, line.size() - (line.back() == '\n')));
        this->wfile.write(line);
      }
      log.add("end of input");
    } catch (const switchboard::Parked&) {
      throw;
    } catch (const std::exception& e) {
      log.add(std::string("error: ") + e.what());
      throw;
    }
  }
  Log log;
};
struct RecordingRestartable : Recording<StreamRequestHandler> {
  static constexpr bool restartable = true;
  using Recording::Recording;
};
struct RecordingCoroutine : AsyncStreamRequestHandler {
  explicit RecordingCoroutine(Log l) : log(std::move(l)) {}
  asio::awaitable<void> handle_async() override {
    std::string error;
    try {
      for (std::string line = co_await rfile.readline(); !line.empty();
           line = co_await rfile.readline()) {
        log.add("line: " + line.substr(0, line.size() - (line.back() == '\n')));
        co_await wfile.write(line);
      }
      log.add("end of input");
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!error.empty()) {
      log.add("error: " + error);
      throw std::runtime_error(error);
    }
  }
  Log log;
};

template <class S>
class CutTest : public ::testing::Test {};
TYPED_TEST_SUITE(CutTest, StreamServers, ServerNames);

// "DEL important" with no newline, then the drain's deadline: the handler
// must see an error, never the unfinished command as the client's last line.
template <class S, class Handler>
void cut_is_not_input(const TempDir& dir, const std::string& kind) {
  SCOPED_TRACE(kind);
  const Log log{dir.file(kind + ".log")};
  ServerOptions options;
  options.close_timeout = Seconds{0.2};
  options.loops = 1;
  options.threads = 2;
  auto server = std::make_unique<S>(bind_arg<S>(dir), factory_of<Handler>(log), options);
  auto serving = std::make_unique<ServeThread>(*server);
  Client c = Client::to(*server, dir);
  c.send("x\n");
  ASSERT_EQ(c.recv_line(), "x\n");
  c.send("DEL important");
  ASSERT_TRUE(wait_until([&] { return log.count("line: x") == 1; }));
  auto closing = std::async(std::launch::async, [&] {
    server->drain();
    server->server_close();
  });
  ASSERT_EQ(closing.wait_for(kLimit), std::future_status::ready);
  EXPECT_EQ(log.count("line: DEL important"), 0) << "the cut command reached the handler as data";
  EXPECT_EQ(log.count("end of input"), 0) << "the cut was taken for the client's end";
  const int e = c.next_eof();
  EXPECT_TRUE(e == 0 || e == ECONNRESET) << "errno " << e;
  if constexpr (!is_forking_v<S>) {  // a forked child is killed at the deadline instead
    EXPECT_NE(log.text().find("error: connection cut at the close deadline"), std::string::npos)
        << log.text();
  }
  const auto stats = server->stats();
  EXPECT_EQ(stats.cut, 1u);
  EXPECT_EQ(stats.handler_errors, 0u) << "a cut is the server's doing, not a handler error";
  EXPECT_EQ(stats.peer_resets, 0u);
  serving.reset();
  server.reset();
}

TYPED_TEST(CutTest, ACutPartialLineNeverReachesTheHandler) {
  using S = TypeParam;
  TempDir dir;
  cut_is_not_input<S, Recording<StreamRequestHandler>>(dir, "blocking");
  cut_is_not_input<S, RecordingRestartable>(dir, "restartable");
  cut_is_not_input<S, RecordingCoroutine>(dir, "coroutine");
}

// --- the handler's kind -----------------------------------------------------------------

struct Counted : StreamRequestHandler {
  explicit Counted(std::shared_ptr<Count> c) { c->add(); }
  void handle() override { wfile.write(rfile.readline()); }
};

// The reactor makes one handler per connection, the one that serves it: the
// kind comes from the type, or, where a factory hides it, from that handler.
TEST(HandlerKinds, TheReactorMakesOneHandlerPerConnection) {
  for (bool hidden : {false, true}) {
    SCOPED_TRACE(hidden ? "a factory that hides the type" : "handler<H>");
    auto made = std::make_shared<Count>();
    HandlerFactory factory = factory_of<Counted>(made);
    if (hidden)
      factory = [made] {
        return std::unique_ptr<switchboard::BaseRequestHandler>(std::make_unique<Counted>(made));
      };
    EXPECT_EQ(factory.kind_known(), !hidden);
    ServerOptions options;
    options.loops = 1;
    switchboard::ReactorTCPServer server(Address("127.0.0.1", 0), factory, options);
    ServeThread serving(server);
    constexpr int kConnections = 5;
    for (int i = 0; i < kConnections; ++i) EXPECT_EQ(roundtrip(server, TempDir{}, "x\n"), "x\n");
    ASSERT_TRUE(serving.stop());
    server.server_close();
    EXPECT_EQ(made->get(), kConnections);
  }
}

TEST(HandlerKinds, FactoriesKnowTheKindOfWhatTheyMake) {
  EXPECT_EQ(switchboard::handler<Blocking>.kind(), HandlerKind::blocking);
  EXPECT_EQ(switchboard::handler<Restartable>.kind(), HandlerKind::restartable);
  EXPECT_EQ(switchboard::handler<Coroutine>.kind(), HandlerKind::coroutine);
  EXPECT_EQ(switchboard::restartable_handler<Blocking>.kind(), HandlerKind::restartable);
  const HandlerFactory lambda = [] { return std::make_unique<Restartable>(); };
  EXPECT_TRUE(lambda.kind_known());
  EXPECT_EQ(lambda.kind(), HandlerKind::restartable);
}

// A restartable handler whose catch (...) swallows the park would end its
// connection after one request, silently; the run reports it instead.
struct Swallowing : StreamRequestHandler {
  static constexpr bool restartable = true;
  void handle() override {
    try {
      for (std::string line; !(line = rfile.readline()).empty();) wfile.write(line);
    } catch (...) {  // the mistake: Parked must be rethrown
    }
  }
};

TEST(HandlerKinds, ASwallowedParkIsReported) {
  auto hooks = std::make_shared<Hooks>();
  ServerOptions options;
  options.loops = 1;
  options.park_linger = Seconds{0};
  Hooked<switchboard::ReactorTCPServer> server(hooks, Address("127.0.0.1", 0),
                                               switchboard::handler<Swallowing>, options);
  ServeThread serving(server);
  Client c = Client::stream(server.server_address());
  c.send("x\n");
  // Its first park comes at its first read with nothing there (before "x\n"
  // arrives, or after it is echoed): the connection ends there, reported.
  const std::string got = c.recv_all();
  EXPECT_TRUE(got.empty() || got == "x\n") << got;
  ASSERT_TRUE(wait_until([&] { return hooks->errors.load() == 1; }));
  ASSERT_EQ(hooks->what().size(), 1u);
  EXPECT_NE(hooks->what()[0].find("switchboard::Parked"), std::string::npos) << hooks->what()[0];
  ASSERT_TRUE(serving.stop());
}

}  // namespace
}  // namespace sbt
