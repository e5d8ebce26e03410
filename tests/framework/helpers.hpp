#pragma once
// Shared helpers of the framework tests: loopback clients with timeouts, a
// gate (latch) for handlers, a per-test temporary directory, a serving thread,
// a server subclass that counts the lifecycle hooks, and fd counting.
//
// Every wait here is bounded by kLimit, a failure limit: a test never asserts
// how fast something happens, only that it happens before the limit.

#include <gtest/gtest.h>
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <support/temp_dir.hpp>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "switchboard/switchboard.hpp"

namespace sbt {

using namespace std::chrono_literals;
using switchboard::Address;
using switchboard::BaseServer;
using switchboard::HandlerFactory;
using switchboard::Request;
using switchboard::Seconds;
using switchboard::ServerOptions;

/// How long any wait may take before the test calls it a failure.
inline constexpr std::chrono::seconds kLimit{10};

/// "i\n": the i-th client's request, to tell the replies apart.
inline std::string line_of(int i) { return std::to_string(i) + "\n"; }

/// Descriptors open in this process, from /proc/self/fd.
int open_fd_count();

/// Waits until `pred()` holds, polling every millisecond; false after `limit`.
/// Only for state that has no event to wait on (server counters).
template <class Pred>
bool wait_until(Pred pred, std::chrono::milliseconds limit = kLimit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// A fresh directory under /tmp (short, for sun_path), removed with its contents.
using switchboard::test::TempDir;

/// Appends `text` with one O_APPEND write: safe from threads and forked children.
void append_file(const std::string& path, std::string_view text);
/// The file's contents; "" if it does not exist.
std::string read_file(const std::string& path);

/// An owned descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Fd& operator=(Fd&& o) noexcept;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

/// A loopback client: a connected stream socket, or a connected datagram
/// socket (bound to a path for Unix datagrams, so that replies can come back).
/// Receives time out after kLimit and throw std::system_error.
class Client {
 public:
  /// A stream connection to `to`. Throws std::system_error.
  static Client stream(const Address& to);
  /// A datagram socket connected to `to`; `bind_path` for a Unix client.
  static Client datagram(const Address& to, const std::string& bind_path = {});
  /// The right kind for `server`; Unix datagram clients bind in `dir`.
  static Client to(const BaseServer& server, const TempDir& dir);

  /// All of `data` (stream), or one datagram. MSG_NOSIGNAL. Throws std::system_error.
  void send(std::string_view data);
  /// One receive: "" is end of stream (or an empty datagram). Throws on timeout.
  std::string recv(std::size_t max = 64 * 1024);
  /// Up to and including '\n', or what came before the end of the stream.
  std::string recv_line();
  /// Exactly `n` bytes, fewer only at the end of the stream.
  std::string recv_exact(std::size_t n);
  /// Everything until the end of the stream.
  std::string recv_all();
  /// 0 if the next receive sees a clean end of stream, the errno if it fails
  /// (ECONNRESET, ETIMEDOUT as EAGAIN, ...), -1 if data arrived instead.
  int next_eof();
  void shutdown_write();
  /// Closes with SO_LINGER {1, 0}: the peer gets a reset.
  void reset();
  int fd() const { return fd_.get(); }

 private:
  Fd fd_;
  std::string pending_;  // received past a line
};

/// A child the test forks itself, which exits at once with status 72
/// (CPython's simple_subprocess): a server must never reap it.
class OwnChild {
 public:
  OwnChild();
  ~OwnChild();
  OwnChild(const OwnChild&) = delete;
  OwnChild& operator=(const OwnChild&) = delete;
  /// waitpid() on it here still finds it, exited with 72.
  ::testing::AssertionResult reap();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

/// A gate handlers wait on: closed until open(), then open for good.
class Gate {
 public:
  void open();
  /// True once open; false if `limit` passed first.
  bool wait(std::chrono::milliseconds limit = kLimit);
  bool is_open() const;

 private:
  mutable std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false;
};

/// A counter one can wait on.
class Count {
 public:
  void add(int n = 1);
  int get() const;
  /// True once the count reaches `at_least`; false if `limit` passed first.
  bool wait_for(int at_least, std::chrono::milliseconds limit = kLimit);

 private:
  mutable std::mutex m_;
  std::condition_variable cv_;
  int n_ = 0;
};

/// serve_forever() on its own thread; done() becomes ready when it returns.
class ServeThread {
 public:
  explicit ServeThread(BaseServer& server);
  ~ServeThread();
  ServeThread(const ServeThread&) = delete;
  ServeThread& operator=(const ServeThread&) = delete;

  /// shutdown(), then serve_forever() must have returned (within kLimit); joins.
  ::testing::AssertionResult stop();
  /// serve_forever() must return by itself (within kLimit); joins. No shutdown().
  ::testing::AssertionResult join();
  std::shared_future<void> done() const { return done_; }

 private:
  BaseServer* server_;
  std::shared_future<void> done_;
  std::thread thread_;
};

// --- servers by type ---------------------------------------------------------

template <class S>
inline constexpr bool is_datagram_v = std::is_base_of_v<switchboard::DatagramServer, S>;
template <class S>
inline constexpr bool is_unix_v = std::is_base_of_v<switchboard::UnixStreamServer, S> ||
                                  std::is_base_of_v<switchboard::UnixDatagramServer, S>;

template <class S>
struct is_forking : std::false_type {};
template <class S>
struct is_forking<switchboard::ForkingMixIn<S>> : std::true_type {};
template <class S>
inline constexpr bool is_forking_v = is_forking<S>::value;

/// What a server of type S binds to in a test: port 0 on 127.0.0.1, or a path in `dir`.
template <class S>
auto bind_arg(const TempDir& dir) {
  if constexpr (is_unix_v<S>) {
    return dir.file("server.sock");
  } else {
    return Address("127.0.0.1", 0);
  }
}

/// What the hooks of a Hooked server saw. Counts are in this process only; a
/// forked child writes "Error handled\n" to `log` (if set) instead.
struct Hooks {
  std::atomic<int> errors{0};
  std::atomic<int> shutdowns{0};
  std::atomic<int> verifies{0};
  std::atomic<int> timeouts{0};
  std::atomic<int> refusals{0};
  Count stops;                     ///< interrupt_waits() calls: shutdown() or drain() began
  std::atomic<bool> accept{true};  ///< what verify_request() answers
  std::string log;
  std::mutex mutex;
  std::vector<std::string> messages;  ///< what() of each handled error, "non-std" otherwise

  std::vector<std::string> what() {
    std::lock_guard lock(mutex);
    return messages;
  }
};

/// A server of type S whose hooks count into Hooks. Closes itself before its
/// own members go (the rule in server.hpp for subclasses that override hooks).
template <class S>
class Hooked : public S {
 public:
  template <class... Args>
  explicit Hooked(std::shared_ptr<Hooks> hooks, Args&&... args)
      : S(std::forward<Args>(args)...), hooks_(std::move(hooks)) {}
  ~Hooked() override {
    this->shutdown();
    this->server_close();
  }
  /// drain()'s first steps only (refuse connects, end idle connections, stop
  /// the loop); returns at once, from any thread.
  void begin_drain() { this->start_drain(); }

 protected:
  bool verify_request(const Request& r) override {
    ++hooks_->verifies;
    return hooks_->accept.load() && S::verify_request(r);
  }
  void shutdown_request(Request& r) override {
    ++hooks_->shutdowns;
    S::shutdown_request(r);
  }
  void handle_error(const Request&) override {
    std::string what = "non-std";
    try {
      throw;
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    {
      std::lock_guard lock(hooks_->mutex);
      hooks_->messages.push_back(what);
    }
    if (!hooks_->log.empty()) append_file(hooks_->log, "Error handled\n");
    ++hooks_->errors;
  }
  void handle_timeout() override { ++hooks_->timeouts; }
  void interrupt_waits() override {
    S::interrupt_waits();
    hooks_->stops.add();
  }
  void refuse_request(Request& r) override {
    ++hooks_->refusals;
    S::refuse_request(r);
  }

 private:
  std::shared_ptr<Hooks> hooks_;
};

// --- the twenty servers, by their socketserver names ---------------------------

using AllServers = ::testing::Types<
    switchboard::TCPServer, switchboard::ThreadingTCPServer, switchboard::ThreadPoolTCPServer,
    switchboard::ForkingTCPServer, switchboard::ReactorTCPServer, switchboard::UnixStreamServer,
    switchboard::ThreadingUnixStreamServer, switchboard::ThreadPoolUnixStreamServer,
    switchboard::ForkingUnixStreamServer, switchboard::ReactorUnixStreamServer,
    switchboard::UDPServer, switchboard::ThreadingUDPServer, switchboard::ThreadPoolUDPServer,
    switchboard::ForkingUDPServer, switchboard::ReactorUDPServer, switchboard::UnixDatagramServer,
    switchboard::ThreadingUnixDatagramServer, switchboard::ThreadPoolUnixDatagramServer,
    switchboard::ForkingUnixDatagramServer, switchboard::ReactorUnixDatagramServer>;
using StreamServers = ::testing::Types<
    switchboard::TCPServer, switchboard::ThreadingTCPServer, switchboard::ThreadPoolTCPServer,
    switchboard::ForkingTCPServer, switchboard::ReactorTCPServer, switchboard::UnixStreamServer,
    switchboard::ThreadingUnixStreamServer, switchboard::ThreadPoolUnixStreamServer,
    switchboard::ForkingUnixStreamServer, switchboard::ReactorUnixStreamServer>;

template <class T>
std::string server_name() {
  if constexpr (std::is_same_v<T, switchboard::TCPServer>)
    return "TCPServer";
  else if constexpr (std::is_same_v<T, switchboard::ThreadingTCPServer>)
    return "ThreadingTCPServer";
  else if constexpr (std::is_same_v<T, switchboard::ThreadPoolTCPServer>)
    return "ThreadPoolTCPServer";
  else if constexpr (std::is_same_v<T, switchboard::ForkingTCPServer>)
    return "ForkingTCPServer";
  else if constexpr (std::is_same_v<T, switchboard::UnixStreamServer>)
    return "UnixStreamServer";
  else if constexpr (std::is_same_v<T, switchboard::ThreadingUnixStreamServer>)
    return "ThreadingUnixStreamServer";
  else if constexpr (std::is_same_v<T, switchboard::ThreadPoolUnixStreamServer>)
    return "ThreadPoolUnixStreamServer";
  else if constexpr (std::is_same_v<T, switchboard::ForkingUnixStreamServer>)
    return "ForkingUnixStreamServer";
  else if constexpr (std::is_same_v<T, switchboard::UDPServer>)
    return "UDPServer";
  else if constexpr (std::is_same_v<T, switchboard::ThreadingUDPServer>)
    return "ThreadingUDPServer";
  else if constexpr (std::is_same_v<T, switchboard::ThreadPoolUDPServer>)
    return "ThreadPoolUDPServer";
  else if constexpr (std::is_same_v<T, switchboard::ForkingUDPServer>)
    return "ForkingUDPServer";
  else if constexpr (std::is_same_v<T, switchboard::UnixDatagramServer>)
    return "UnixDatagramServer";
  else if constexpr (std::is_same_v<T, switchboard::ThreadingUnixDatagramServer>)
    return "ThreadingUnixDatagramServer";
  else if constexpr (std::is_same_v<T, switchboard::ThreadPoolUnixDatagramServer>)
    return "ThreadPoolUnixDatagramServer";
  else if constexpr (std::is_same_v<T, switchboard::ForkingUnixDatagramServer>)
    return "ForkingUnixDatagramServer";
  else if constexpr (std::is_same_v<T, switchboard::ReactorTCPServer>)
    return "ReactorTCPServer";
  else if constexpr (std::is_same_v<T, switchboard::ReactorUDPServer>)
    return "ReactorUDPServer";
  else if constexpr (std::is_same_v<T, switchboard::ReactorUnixStreamServer>)
    return "ReactorUnixStreamServer";
  else if constexpr (std::is_same_v<T, switchboard::ReactorUnixDatagramServer>)
    return "ReactorUnixDatagramServer";
  else
    return "UnknownServer";
}
/// Names typed tests after the server ("ForkingUnixStreamServer").
struct ServerNames {
  template <class T>
  static std::string GetName(int) {
    return server_name<T>();
  }
};

// --- handlers ----------------------------------------------------------------

/// CPython's test handler: reads one line and writes it back.
template <class Base>
struct LineEcho : Base {
  void handle() override { this->wfile.write(this->rfile.readline()); }
};
template <class S>
using HandlerBaseFor = std::conditional_t<is_datagram_v<S>, switchboard::DatagramRequestHandler,
                                          switchboard::StreamRequestHandler>;

/// Counts its handlers, waits on a gate, then echoes one line. In-process
/// only (threading, pool, serial).
struct GateState {
  Gate gate;
  Count entered;
  Count done;
};
template <class Base>
struct GatedEcho : Base {
  explicit GatedEcho(std::shared_ptr<GateState> s) : state(std::move(s)) {}
  void handle() override {
    state->entered.add();
    if (state->gate.wait()) this->wfile.write(this->rfile.readline());
    state->done.add();
  }
  std::shared_ptr<GateState> state;
};
template <class Handler, class... Args>
HandlerFactory factory_of(Args... args) {
  return [args...] { return std::make_unique<Handler>(args...); };
}

/// One line to the server and its echo back, on a fresh client.
std::string roundtrip(const BaseServer& server, const TempDir& dir,
                      std::string_view line = "hello world\n");

}  // namespace sbt
