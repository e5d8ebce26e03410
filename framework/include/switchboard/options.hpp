#pragma once
// Everything a server can be told, in one plain struct, applied before bind.

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <optional>

namespace switchboard {

using Seconds = std::chrono::duration<double>;

/// What a policy does with a request when its limit is reached.
enum class Overload {
  block,   ///< stop accepting until there is room (the kernel backlog holds the rest)
  refuse,  ///< accept and close at once, after the refuse_request() hook
};

struct ServerOptions {
  // The listening socket.
  /// The constructor binds and listens; false: the caller calls server_bind()
  /// and server_activate() (an override may set socket options first), or
  /// adopt_socket() to serve on a socket it is given, as Python's
  /// bind_and_activate=False.
  bool bind_and_activate = true;
  int backlog = SOMAXCONN;    ///< listen() backlog (Python's 5 is far too small)
  bool reuse_address = true;  ///< SO_REUSEADDR on TCP listeners (restart while in TIME_WAIT)
  bool reuse_port = false;    ///< SO_REUSEPORT, for several servers on one port
  /// IPv6 addresses: true serves IPv6 only, false IPv4 too (as "::" dual
  /// stack, IPv4 clients seen as ::ffff:a.b.c.d); unset, the system's default
  /// (net.ipv6.bindv6only, 0 on Linux: dual stack), as Python's.
  std::optional<bool> ipv6_only;
  bool replace_stale_unix_path = true;  ///< a Unix path nobody listens on is removed before bind
  std::size_t max_datagram = 65507;  ///< larger datagrams are reported and dropped, never truncated

  std::size_t max_connections = 8192;  ///< open connections, queued ones included; 0 = no limit

  // Each connection. Finite by default: a silent or stuck client cannot hold
  // a connection (and, for blocking policies, a thread) forever.
  Seconds timeout{60};  ///< idle/read timeout of a stream connection, reset by each read; 0 = none
  Seconds write_timeout{60};             ///< how long a write may wait for a slow reader; 0 = none
  Seconds first_request_timeout{0};      ///< deadline for the first complete request; 0 = none
  bool tcp_nodelay = true;               ///< TCP_NODELAY on accepted TCP connections
  std::size_t max_line = 64 * 1024;      ///< readline() limit, counting the '\n'
  std::size_t write_buffer = 64 * 1024;  ///< wfile's buffer: what a slow reader can leave unsent

  // handle_request()
  Seconds request_timeout{
      0};  ///< how long handle_request() waits; 0 = forever (Python's `timeout`)

  // Policies.
  std::size_t threads = 16;  ///< pool workers (each holds one connection while it serves it);
                             ///< reactor: workers for blocking-style handlers, started on first use
  std::size_t max_queued = 1024;  ///< pool: requests waiting for a worker (exact); reactor:
                                  ///< datagrams waiting for a worker (blocking handlers)
  std::size_t max_threads = 0;    ///< threading: concurrent handler threads; 0 = unbounded
  std::size_t max_children = 40;  ///< forking: concurrent child processes
  std::size_t loops =
      0;  ///< reactor: event loops, one thread each; 0 = one per CPU this process may use
  bool socket_per_loop = false;  ///< reactor, UDP: each loop reads its own SO_REUSEPORT socket
                                 ///< (not with an adopted socket: see adopt_socket())
  /// reactor, restartable handlers: how long a worker waits for a connection's
  /// next request before parking it, when no other connection waits for a
  /// worker (parking costs an unwind and two hand-offs); 0 = park at once
  Seconds park_linger{50e-6};
  Overload overload = Overload::block;  ///< what any limit above does when reached
  bool block_on_close = true;           ///< server_close() waits for requests in flight
  Seconds close_timeout{10};  ///< how long it waits before forcing their connections closed
};

}  // namespace switchboard
