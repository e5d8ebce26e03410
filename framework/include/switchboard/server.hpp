#pragma once
// BaseServer: socketserver's lifecycle, readable top to bottom in server.cpp.
//
//   serve_forever()            loop until shutdown(); wakes at once on shutdown
//     service_actions()        each loop turn
//     get_request()            accept() for streams, recvfrom() for datagrams
//     verify_request()         false -> shutdown_request(), nothing else runs
//     process_request()        THE POLICY POINT (inline here; mixins override it)
//       finish_and_close()     one request, as every policy runs it:
//         finish_request()     make the handler: setup(); handle(); finish()
//         handle_error()       a handler's exception, reported; serving goes on
//         shutdown_request()   close the connection, exactly once
//     end_of_batch()           after the turn's requests (a policy wakes its threads)
//   handle_request()           one request, waiting at most request_timeout
//   shutdown()                 any thread: stop serve_forever, return when stopped
//   drain()                    graceful: on_drain(), then the close deadline
//   retire()                   graceful for a reload: open connections go on
//   server_close()             release the socket; policies join what they started
//
// Subclasses that override hooks and run serve_forever() on another thread
// should call shutdown() and server_close() before their own destructor ends:
// the destructors below can only reach the hooks of their own level.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "switchboard/address.hpp"
#include "switchboard/handler_factory.hpp"
#include "switchboard/options.hpp"
#include "switchboard/request.hpp"
#include "switchboard/socket.hpp"
#include "switchboard/stats.hpp"

namespace switchboard {

namespace detail {
struct Counters;
struct UnmapCounters {  // counters live in memory shared with forked children
  void operator()(Counters* counters) const noexcept;
};
class ActiveSet;
class HandlerRun;
struct ServerAccess;
}  // namespace detail

class BaseServer {
 public:
  BaseServer(const BaseServer&) = delete;
  BaseServer& operator=(const BaseServer&) = delete;
  virtual ~BaseServer();

  /// Serves requests until shutdown(). One thread at a time.
  void serve_forever();
  /// Serves one request, waiting at most options().request_timeout (0: no limit);
  /// calls handle_timeout() if none came. Same thread as serve_forever().
  void handle_request();
  /// Stops serve_forever() and returns once it has returned. Any thread, before,
  /// during or after serve_forever(); from a handler on the serving thread it
  /// only asks (waiting there would deadlock). Thread safe.
  void shutdown();
  /// A graceful stop, from any thread: new connects are refused now, idle
  /// connections end now, requests in flight get until options().close_timeout
  /// and then lose their connections; returns once serve_forever() has
  /// returned (at once from a handler on the serving thread). Follow it with
  /// server_close(), which waits for the policy's requests within the same deadline.
  void drain();
  /// A graceful stop for a server whose listener other processes go on
  /// serving (a reload, a worker recycled): stops accepting without
  /// touching the listener (no filter, no shutdown: its queue is theirs),
  /// and serves the connections open now until their clients close them or
  /// options().close_timeout passes; then they are cut. Idle connections
  /// are not ended: closing one races its client's next request, which a
  /// generic protocol cannot retry. draining() is true, so a handler may end
  /// at a request boundary. Returns once serve_forever() has returned (a
  /// serial server's: once the connection it serves ends, or is cut at the
  /// deadline); follow it with server_close(), which waits within the
  /// deadline. A drain() later (a stop for good) ends the idle connections
  /// then. Any thread.
  void retire();
  /// Binds the socket to the server's address, after the options that must
  /// come first (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY; a stale Unix socket
  /// file is replaced). The constructor calls it unless
  /// options().bind_and_activate is false: then call it (and
  /// server_activate()) yourself, and an override may set options of its own
  /// on socket() first. Throws std::system_error naming the address.
  virtual void server_bind();
  /// Listens (streams; backlog from options()). After server_bind().
  virtual void server_activate();
  /// Serves on `socket`, a bound socket this server is given (inherited as
  /// `--fd N`, passed by systemd), instead of server_bind() and
  /// server_activate(): Python's bind_and_activate=False, then replacing
  /// server.socket. Construct with options().bind_and_activate false (and,
  /// if you like, no address: Address{}, or "" for a Unix server). A stream
  /// socket must be listening. server_address() becomes the socket's own.
  ///
  /// The socket is borrowed: its other holders (a parent, systemd, the next
  /// generation of this server) share it, so server_close() and drain() only
  /// stop accepting and close this server's descriptor, never shut it down,
  /// filter it or take its backlog: connections queued on it wait for its
  /// next owner, and its Unix socket file is never removed. It is made
  /// non-blocking (the file status is shared: another holder may take a
  /// connection between poll() and accept()) and close-on-exec (this
  /// descriptor only); options that accepted connections would inherit from
  /// the listener (TCP_NODELAY, timeouts) are set on each connection instead.
  /// Reactor, UDP: the loops read this one socket (socket_per_loop is
  /// ignored: datagrams queued on sockets of our own on its port would be
  /// lost when we close them). Throws std::system_error for a descriptor that
  /// is not open or not a socket, std::invalid_argument for a socket of the
  /// wrong type or family, unbound or (streams) not listening, each naming
  /// the descriptor; `socket` is closed then. std::logic_error if this server
  /// is bound already. Before serve_forever(); one thread.
  ///
  /// `borrow` false: the socket is this server's to stop, as a bound one is
  /// (its drain stops new connects and serves the backlog), for the last
  /// holders of a shared listener, such as a master's workers at a stop for
  /// good; its Unix socket file is still never removed here.
  void adopt_socket(Socket socket, bool borrow = true);
  /// Whether the socket was adopted (adopt_socket()) rather than bound here. Thread safe.
  bool socket_borrowed() const { return borrowed_; }
  /// Stops serving requests and releases the socket (and the Unix path this
  /// server created); idle connections end now, and policies wait for what
  /// they started until the close deadline, then force it. Idempotent.
  virtual void server_close();

  /// The bound address, port 0 resolved. Thread safe.
  const Address& server_address() const { return address_; }
  /// "tcp://127.0.0.1:9999", "udp://[::1]:53", "unix:/run/x", "unix-dgram:/run/y".
  std::string url() const;
  /// The options this server was made with. Thread safe.
  const ServerOptions& options() const { return options_; }
  /// A snapshot of the counters. Thread safe.
  ServerStats stats() const;
  /// The listening (stream) or serving (datagram) socket; closed by server_close()
  /// (a datagram socket once no reply is still being sent on it).
  const Socket& socket() const { return *socket_; }
  Socket& socket() { return *socket_; }
  /// SOCK_STREAM or SOCK_DGRAM.
  int socket_type() const { return socket_type_; }
  /// The factory of this server's handlers. Thread safe.
  const HandlerFactory& handler_factory() const { return factory_; }
  /// Whether a drain (or server_close()) has begun: a handler that keeps a
  /// connection may end it at a request boundary. Thread safe.
  bool draining() const { return draining_.load() || retiring_.load(); }
  /// Waits until the close deadline of drain() or server_close() has passed
  /// and requests in flight are being cut, or until `timeout`; true in the
  /// first case. For a handler that waits on something other than its
  /// connection, so that it ends with the others. Thread safe.
  bool wait_for_close_deadline(Seconds timeout);

 protected:
  /// Binds and listens (streams) at once (see server_bind()); throws
  /// std::system_error naming the address (EADDRINUSE, EACCES, ...) and
  /// leaks nothing when it does. With options().bind_and_activate false the
  /// address may be empty (Address{}): then adopt_socket() gives the socket.
  BaseServer(Address address, int socket_type, HandlerFactory factory, ServerOptions options);

  // The lifecycle hooks, in the order they run.
  /// Each serve_forever() turn, on the serving thread.
  virtual void service_actions() {}
  /// serve_forever()'s loop until shutdown(): wait for the socket, serve what
  /// is ready, service_actions(). A policy whose own event loops read the
  /// socket (the reactor's datagram loops) replaces it. Serving thread.
  virtual void serve_until_shutdown();
  /// One ready request into `request`; false when none is ready.
  virtual bool get_request(Request& request) = 0;
  /// Whether to serve this request; false closes it. Serving thread (the
  /// reactor's datagram loops: its loop's thread).
  virtual bool verify_request(const Request& request);
  /// Serves the request: the policy point. Serving thread.
  virtual void process_request(Request request);
  /// After the requests that were ready went to process_request(), one turn's
  /// worth: a policy that queues them may wake its workers once per turn
  /// rather than once per request; an override calls the base's. Serving thread.
  virtual void end_of_batch() {}
  /// Makes the request's handler and runs it: setup(); handle(); finish()
  /// (finish() also when handle() threw; the error then leaves this call).
  /// Every request of every policy and handler kind comes through here, on
  /// the thread that starts its handler. Under the reactor a coroutine
  /// handler's handle_async() is awaited on its loop after this returns, and
  /// a restartable handler parked at a request boundary returns here and
  /// resumes later: for those, finish() runs when the handler ends. An
  /// override calls the base's.
  virtual void finish_request(Request& request);
  /// Closes the connection (no-op for datagrams). The policy's thread.
  virtual void shutdown_request(Request& request);
  /// Reports a handler's exception; called inside the catch block, so
  /// std::current_exception() is the error. Timeouts, vanished peers and
  /// connections cut at the close deadline are counted, not reported. The
  /// thread that ran the handler.
  virtual void handle_error(const Request& request);
  /// handle_request() found no request in time. Serving thread.
  virtual void handle_timeout() {}
  /// A limit refused this request; may write a short reply before it is closed.
  virtual void refuse_request(Request& request);
  /// Called by shutdown() from any thread: wake whatever process_request() is
  /// blocked on (a full queue, a thread or child cap). Thread safe.
  virtual void interrupt_waits() {}
  /// A drain (or server_close()) began; the idle connections the server sees
  /// have ended. A policy ends here what waits for a next request out of
  /// its sight (a forked child's, a reactor loop's). Once; thread safe; an
  /// override calls the base's.
  virtual void on_drain() {}
  /// Adds the policy's figures (threads, processes, queued) to a stats() snapshot.
  virtual void add_policy_stats(ServerStats&) const {}

  // For policies.
  /// finish_request(), handle_error() on an exception, shutdown_request(): one
  /// request as every policy runs it. True if the handler raised no error.
  bool finish_and_close(Request& request) noexcept;
  /// Counts the refusal, runs refuse_request(), closes the request.
  void refuse(Request& request) noexcept;
  /// True from shutdown() until serve_forever() has returned. Thread safe.
  bool shutdown_requested() const { return stop_.load(std::memory_order_acquire); }
  /// The close deadline: shuts down every connection being served, so that
  /// blocked reads and writes fail now, and readers see the cut. Thread safe.
  void close_active_connections();
  /// When requests in flight lose their connections: set by the first of
  /// drain() and server_close(), options().close_timeout after it.
  std::chrono::steady_clock::time_point close_deadline();
  /// The drain's first steps: refuse new connects, end idle connections, stop
  /// serve_forever(). Thread safe; returns at once.
  void start_drain() noexcept;
  /// Past the close deadline: closes a request no handler took, counted as cut.
  void cut_unserved(Request& request) noexcept;
  /// In a forked child that serves one request: closes what it must not keep
  /// (the listener, the wake descriptor) and counts its request as its process.
  void become_child() noexcept;
  /// Waits up to `timeout` on the wake descriptor; true if shutdown() woke it.
  bool wait_for_wake(Seconds timeout);
  detail::Counters& counters() { return *counters_; }
  /// Shared so that datagram replies in flight keep the socket alive.
  std::shared_ptr<Socket> socket_ptr() const { return socket_; }

 private:
  friend class detail::HandlerRun;     // the one handler run: finish_request() and what follows
  friend struct detail::ServerAccess;  // the reactor's loops (framework/src/reactor/)

  void stop_accepting() noexcept;  // server_socket.cpp, as the two below
  void close_listener() noexcept;
  void remove_unix_path() noexcept;
  void request_stop() noexcept;
  void wait_served_until_deadline();
  void drain_connections() noexcept;
  bool wait_ready(int timeout_ms);
  bool room_for_connection();
  void serve_ready(int batch);
  void serve_accepted();
  void dispatch(Request request);

  Address address_;
  int socket_type_;
  HandlerFactory factory_;
  ServerOptions options_;
  std::shared_ptr<Socket> socket_;
  Socket wake_;               // eventfd: shutdown() makes serve_forever's poll() return
  std::string created_path_;  // Unix socket file to remove at close...
  std::pair<dev_t, ino_t> created_file_{};  // ...if it is still this one
  std::unique_ptr<detail::Counters, detail::UnmapCounters> counters_;
  std::unique_ptr<detail::ActiveSet> active_;

  std::atomic<bool> stop_{false};
  std::atomic<bool> draining_{false};            // idle connections end
  std::atomic<bool> retiring_{false};            // retire(): the listener is left alone
  std::atomic<std::int64_t> close_deadline_{0};  // steady_clock ticks; 0 = not yet set
  std::mutex socket_mutex_;                 // drain() may take connects while server_close() closes
  std::deque<Request> accepted_;            // taken by the drain from the backlog, to be served
  std::atomic<bool> socket_closed_{false};  // server_close() ran (a datagram socket may stay open)
  bool bound_ = false;                      // server_bind() ran
  bool activated_ = false;                  // server_activate() ran: serving may begin
  bool borrowed_ = false;                   // adopt_socket() gave the socket: never shut down
  std::mutex serving_mutex_;
  std::condition_variable serving_done_;
  bool serving_ = false;
  bool cut_ = false;       // the close deadline passed: requests in flight are being cut
  bool in_child_ = false;  // a forked child: see become_child()
  std::thread::id serving_thread_;
};

/// Accepts connections: TCPServer and UnixStreamServer.
class StreamServer : public BaseServer {
 protected:
  StreamServer(Address address, HandlerFactory factory, ServerOptions options);
  bool get_request(Request& request) override;

 private:
  enum class SpareOutcome { refused, nobody_waiting, failed };
  SpareOutcome refuse_with_spare_descriptor();
  void report_out_of_descriptors(int err);

  Seconds accept_backoff_{0};
  Socket spare_;  // /dev/null, given up for a moment when out of descriptors
  bool out_of_descriptors_ = false;
};

/// Receives datagrams: UDPServer and UnixDatagramServer.
class DatagramServer : public BaseServer {
 protected:
  DatagramServer(Address address, HandlerFactory factory, ServerOptions options);
  bool get_request(Request& request) override;

 private:
  std::vector<char> buffer_;
};

class TCPServer : public StreamServer {
 public:
  TCPServer(Address address, HandlerFactory factory, ServerOptions options = {})
      : StreamServer(std::move(address), std::move(factory), std::move(options)) {}
};

class UDPServer : public DatagramServer {
 public:
  UDPServer(Address address, HandlerFactory factory, ServerOptions options = {})
      : DatagramServer(std::move(address), std::move(factory), std::move(options)) {}
};

class UnixStreamServer : public StreamServer {
 public:
  /// `path` "": no address, for adopt_socket().
  UnixStreamServer(std::string_view path, HandlerFactory factory, ServerOptions options = {})
      : StreamServer(path.empty() ? Address() : Address::unix_path(path), std::move(factory),
                     std::move(options)) {}
};

class UnixDatagramServer : public DatagramServer {
 public:
  /// `path` "": no address, for adopt_socket().
  UnixDatagramServer(std::string_view path, HandlerFactory factory, ServerOptions options = {})
      : DatagramServer(path.empty() ? Address() : Address::unix_path(path), std::move(factory),
                       std::move(options)) {}
};

}  // namespace switchboard
