#pragma once
// Internal: one accept() of a stream server, shared by get_request() on the
// serving thread and the drain's take of what the kernel already accepted.

#include "switchboard/options.hpp"
#include "switchboard/request.hpp"

namespace switchboard::detail {

/// Accepts one connection on `listener` into `out` (its client address, and
/// for a Unix listener the timeouts, which TCP connections inherit from it):
/// 0, or the errno of a failed accept4().
int accept_connection(int listener, bool unix_socket, const ServerOptions& options, Request& out);

/// SO_RCVTIMEO and SO_SNDTIMEO from `options` (the read and write timeouts).
void apply_timeouts(Socket& s, const ServerOptions& options);

}  // namespace switchboard::detail
