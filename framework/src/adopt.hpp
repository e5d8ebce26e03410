#pragma once
// Internal: whether a descriptor a server is given (adopt_socket()) is a
// socket it can serve on, with an error that names the descriptor and what
// is wrong with it.

namespace switchboard::detail {

/// Throws unless `fd` is a bound socket of `type` (SOCK_STREAM: listening),
/// and of `family`'s kind (IP or Unix; AF_UNSPEC: either):
/// std::system_error for a descriptor that is not open or not a socket,
/// std::invalid_argument for the wrong socket.
void check_adoptable(int fd, int type, int family);

}  // namespace switchboard::detail
