#pragma once
// The figures an operator asks a server for; a plain snapshot.

#include <cstdint>
#include <iosfwd>

namespace switchboard {

struct ServerStats {
  std::uint64_t total_requests = 0;    ///< connections accepted / datagrams received
  std::uint64_t connections = 0;       ///< stream connections open now, queued ones included
  std::uint64_t peak_connections = 0;  ///< highest `connections` seen
  std::uint64_t active_requests = 0;   ///< being served now (a forked child counts in `processes`)
  std::uint64_t max_active = 0;        ///< highest active_requests seen
  std::uint64_t queued = 0;            ///< waiting for a worker (pool)
  std::uint64_t threads = 0;           ///< the policy's threads now (pool workers, handler threads)
  std::uint64_t processes = 0;         ///< the policy's child processes now (forking)
  std::uint64_t refused = 0;           ///< closed at once by an overload limit
  std::uint64_t rejected = 0;          ///< closed because verify_request() said no
  std::uint64_t handler_errors =
      0;  ///< handlers that ended in an exception (peers vanishing excluded)
  std::uint64_t peer_resets = 0;  ///< connections the peer reset or abandoned mid-request
  std::uint64_t timed_out = 0;    ///< connections ended by a read, write or first-request timeout
  std::uint64_t cut = 0;  ///< connections the server cut at the close deadline, a request in flight
  std::uint64_t accept_errors = 0;      ///< accept()/recv failures other than EAGAIN/EINTR
  std::uint64_t dropped_datagrams = 0;  ///< oversized datagrams, reported and not served
};

/// One line of `key=value` pairs, in the order above: "total=12 connections=3 ...".
std::ostream& operator<<(std::ostream& os, const ServerStats& stats);

}  // namespace switchboard
