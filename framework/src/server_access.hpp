#pragma once
// Internal: what the reactor's loops (framework/src/reactor/) need of a server
// beyond its public hooks and the one handler run: its datagram loops read the
// socket themselves, so they count, verify and refuse on their own thread.

#include "counters.hpp"
#include "switchboard/server.hpp"

namespace switchboard::detail {

struct ServerAccess {
  static Counters& counters(BaseServer& s) { return *s.counters_; }
  static bool verify_request(BaseServer& s, const Request& r) { return s.verify_request(r); }
  /// An overload limit refused `r`: refuse_request(), counted, closed.
  static void refuse(BaseServer& s, Request& r) noexcept { s.refuse(r); }
  /// The close deadline: every connection still open is cut.
  static void close_active_connections(BaseServer& s) { s.close_active_connections(); }
  static bool shutdown_requested(const BaseServer& s) { return s.shutdown_requested(); }
  /// A drain ends idle connections (retire() leaves them open). Thread safe.
  static bool ends_idle(const BaseServer& s) { return s.draining_.load(); }
  /// shutdown()'s request, without waiting: serve_forever() returns soon. Thread safe.
  static void stop(BaseServer& s) { s.request_stop(); }
  /// Blocks until shutdown() is called (or has been). Serving thread.
  static void wait_for_shutdown(BaseServer& s);
};

}  // namespace switchboard::detail
