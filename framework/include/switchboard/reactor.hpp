#pragma once
// ReactorMixIn: event loops, one per thread (options().loops; 0 = one per CPU
// this process may use), in muduo's "one loop per thread" shape. The serving
// thread accepts, as under every policy (verify_request() runs there), and
// spreads the connections over the loops; an idle connection costs a socket
// and a small buffer, not a thread. Where a handler runs depends on its kind:
//
//   AsyncStreamRequestHandler     a coroutine on its connection's loop, for
//   (switchboard/coroutine.hpp)   the connection's life: thousands per loop.
//   StreamRequestHandler with     per request: handle() runs on a worker and
//   `restartable` set             unwinds (Parked) at an idle request boundary;
//                                 the loop holds the connection until its next
//                                 bytes arrive, then a worker runs handle()
//                                 again (setup() and finish() run once).
//   any other handler             whole, on a worker, as the pool serves it.
//
// Workers (options().threads) start on first use. Datagram servers have their
// loops read the socket, in batches (recvmmsg/sendmmsg): coroutine datagram
// handlers run on the loop, others on the workers. Without socket_per_loop
// one loop reads the server's socket; with it (UDP) each loop reads a
// SO_REUSEPORT socket of its own on the same port.
//
// The handler's kind comes from its type (HandlerFactory): nothing is made
// to find out where it runs. Every kind goes through finish_request() and
// handle_error(), as under the other policies. Timeouts (options().timeout,
// write_timeout) are swept per loop, without a timer per operation.
// server_close() ends idle connections at once, lets the others finish until
// the close deadline, then cuts them, and joins the workers and loops.

#include <chrono>
#include <cstddef>
#include <memory>
#include <string_view>
#include <type_traits>
#include <utility>

#include "switchboard/server.hpp"

namespace switchboard {
namespace detail {

class Reactor;

/// The loops and workers behind ReactorMixIn. Thread safe.
class ReactorCore {
 public:
  explicit ReactorCore(BaseServer& server);
  ~ReactorCore();
  /// process_request(): hands a connection (or datagram) on. Serving thread.
  void serve(Request request);
  /// serve_until_shutdown() of a datagram server: the loops read until shutdown(). Serving thread.
  void serve_datagrams();
  /// A drain began: the loops end the connections that wait for a next request. Thread safe.
  void drain();
  /// server_close()'s part: waits until `deadline`, cuts, joins. Idempotent.
  void close(std::chrono::steady_clock::time_point deadline);
  std::size_t loops() const;
  std::size_t workers() const;
  /// Jobs waiting for a worker (blocking-style handlers).
  std::size_t queued() const;
  /// Wakes the serving thread if it waits for a worker's place. Thread safe.
  void interrupt();

 private:
  std::unique_ptr<Reactor> reactor_;
};

/// The options a reactor server binds with (SO_REUSEPORT for socket_per_loop).
ServerOptions reactor_options(ServerOptions options, bool datagram);

}  // namespace detail

template <class Server>
class ReactorMixIn : public Server {
  static constexpr bool kDatagram = std::is_base_of_v<DatagramServer, Server>;

 public:
  /// The server's own arguments: an address, the factory, the options.
  ReactorMixIn(Address address, HandlerFactory factory, ServerOptions options = {}) requires
      std::is_constructible_v<Server, Address, HandlerFactory, ServerOptions>
      : Server(std::move(address), std::move(factory),
               detail::reactor_options(std::move(options), kDatagram)) {}
  /// A Unix server's: the path, the factory, the options.
  ReactorMixIn(std::string_view path, HandlerFactory factory, ServerOptions options = {}) requires(
      !std::is_constructible_v<Server, Address, HandlerFactory, ServerOptions>)
      : Server(path, std::move(factory), detail::reactor_options(std::move(options), kDatagram)) {}
  ~ReactorMixIn() override {
    this->shutdown();
    ReactorMixIn::server_close();
    core_.close(this->close_deadline());  // block_on_close off: the waiting is here
  }

  /// Closes the socket and ends idle connections at once; with
  /// block_on_close (the default) lets the others finish until the close
  /// deadline, cuts what remains and joins the workers and loops; without,
  /// returns at once and the destructor does that. Not from a handler.
  void server_close() override {
    Server::server_close();
    if (this->options().block_on_close) core_.close(this->close_deadline());
  }
  /// Event-loop threads. Thread safe.
  std::size_t loops() const { return core_.loops(); }
  /// Worker threads started (0 until a blocking-style handler needs one). Thread safe.
  std::size_t workers() const { return core_.workers(); }

 protected:
  void process_request(Request request) override { core_.serve(std::move(request)); }
  void interrupt_waits() override {
    Server::interrupt_waits();
    core_.interrupt();
  }
  void on_drain() override {
    Server::on_drain();
    core_.drain();
  }
  void add_policy_stats(ServerStats& stats) const override {
    Server::add_policy_stats(stats);
    stats.threads += core_.loops() + core_.workers();
    stats.queued += core_.queued();
  }
  void serve_until_shutdown() override {
    if constexpr (kDatagram) {
      core_.serve_datagrams();
    } else {
      Server::serve_until_shutdown();
    }
  }

 private:
  detail::ReactorCore core_{*this};
};

using ReactorTCPServer = ReactorMixIn<TCPServer>;
using ReactorUDPServer = ReactorMixIn<UDPServer>;
using ReactorUnixStreamServer = ReactorMixIn<UnixStreamServer>;
using ReactorUnixDatagramServer = ReactorMixIn<UnixDatagramServer>;

}  // namespace switchboard
