#pragma once
// ThreadingMixIn: a thread of its own for each connection or datagram. A
// thread that finished its request waits a moment (kKeepIdle) for the next
// one instead of exiting, which spares a thread creation per request under
// load; idle threads then retire and are joined at the next request, so
// memory follows recent concurrency, not the number of requests served.
// Datagrams wake one idle thread per batch, which wakes another only if it
// leaves requests behind with none awake; a thread busy with a slow request is
// not awake, so the next still gets a thread of its own at once.
// options().max_threads caps concurrency (0: no cap), with options().overload
// deciding what happens at it. server_close() waits for the handler threads
// (block_on_close: up to close_timeout, then their connections are cut and
// they are joined); without block_on_close it returns at once and the
// destructor does the waiting, since a thread cannot outlive the server it
// calls into.

#include "switchboard/detail/worker_policy.hpp"

namespace switchboard {
namespace detail {

struct ThreadingShape {
  /// How long a thread that finished its request waits for another.
  static constexpr std::chrono::milliseconds kKeepIdle{1000};
  static std::size_t places(const ServerOptions& o) { return o.max_threads; }
  static Workers::Config config(const ServerOptions& o, bool datagram) {
    return {o.max_threads, 0, kKeepIdle, datagram ? Workers::Wake::at_batch : Workers::Wake::each};
  }
};

}  // namespace detail

template <class Server>
class ThreadingMixIn : public detail::WorkerPolicy<Server, detail::ThreadingShape> {
 public:
  using detail::WorkerPolicy<Server, detail::ThreadingShape>::WorkerPolicy;
  ~ThreadingMixIn() override { this->stop(); }
  /// Handler threads running a request now. Thread safe.
  std::size_t active_threads() const { return this->workers_.busy(); }
  /// Thread objects held (running, idle, or retired and not yet joined). Thread safe.
  std::size_t tracked_threads() const { return this->workers_.tracked(); }
};

using ThreadingTCPServer = ThreadingMixIn<TCPServer>;
using ThreadingUDPServer = ThreadingMixIn<UDPServer>;
using ThreadingUnixStreamServer = ThreadingMixIn<UnixStreamServer>;
using ThreadingUnixDatagramServer = ThreadingMixIn<UnixDatagramServer>;

}  // namespace switchboard
