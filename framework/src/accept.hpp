#pragma once
// Internal: one accept() of a stream server, shared by get_request() on the
// serving thread and the drain's take of what the kernel already accepted.

#include "switchboard/options.hpp"
#include "switchboard/request.hpp"

namespace switchboard::detail {

/// Accepts one connection on `listener` into `out`: its client address, and
/// with `configure` the options a connection would otherwise inherit from
/// the listener (a Unix listener passes none on, and a borrowed one's are
/// not ours to set): the timeouts, and TCP_NODELAY for TCP. 0, or the errno
/// of a failed accept4().
int accept_connection(int listener, bool configure, const ServerOptions& options, Request& out);

/// SO_RCVTIMEO and SO_SNDTIMEO from `options` (the read and write timeouts).
void apply_timeouts(Socket& s, const ServerOptions& options);

}  // namespace switchboard::detail
