#pragma once
// Where a sample server's socket comes from when it does not bind one: an
// inherited descriptor (--fd N) or systemd's socket activation (LISTEN_FDS
// for this process). The server borrows it (BaseServer::adopt_socket()).

#include <cstddef>
#include <optional>
#include <string>

#include "switchboard/socket.hpp"

namespace switchboard::cli {

/// Descriptor `fd` when it is not 0 (--fd; then socket activation is not
/// looked at), else the first socket systemd passed to this process, else
/// none: the server binds its address. More than one passed: the first
/// serves, and a line on stderr, starting with `program`, says so (the
/// others are closed here; their holder keeps them). Throws
/// std::system_error for malformed LISTEN_* variables.
std::optional<Socket> inherited_socket(std::size_t fd, const std::string& program);

}  // namespace switchboard::cli
