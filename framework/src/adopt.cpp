// The checks systemd's sd_is_socket() makes, with getsockopt(): the type
// (SO_TYPE), the family (SO_DOMAIN), listening (SO_ACCEPTCONN), and a local
// address to serve on.

#include "adopt.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <system_error>

#include "switchboard/address.hpp"

namespace switchboard::detail {
namespace {

bool is_ip(int family) { return family == AF_INET || family == AF_INET6; }

// "a UDP socket", "a Unix stream socket", ...
std::string describe(int family, int type) {
  const bool stream = type == SOCK_STREAM;
  if (is_ip(family)) return std::string(stream ? "a TCP" : "a UDP") + " socket";
  if (family == AF_UNIX)
    return std::string("a Unix ") + (stream ? "stream" : "datagram") + " socket";
  return "a socket of family " + std::to_string(family) + " and type " + std::to_string(type);
}

std::string wanted(int family, int type) {
  const bool stream = type == SOCK_STREAM;
  if (is_ip(family)) return stream ? "a listening TCP socket" : "a bound UDP socket";
  if (family == AF_UNIX)
    return stream ? "a listening Unix stream socket" : "a bound Unix datagram socket";
  return stream ? "a listening TCP or Unix stream socket" : "a bound UDP or Unix datagram socket";
}

int int_option(int fd, int name, const std::string& what) {
  int value = 0;
  socklen_t len = sizeof value;
  if (::getsockopt(fd, SOL_SOCKET, name, &value, &len) == 0) return value;
  const int err = errno;
  if (err == EBADF) throw std::system_error(err, std::generic_category(), what + " is not open");
  if (err == ENOTSOCK)
    throw std::system_error(err, std::generic_category(), what + " is not a socket");
  throw std::system_error(err, std::generic_category(), what + ": getsockopt");
}

bool is_bound(int fd, int family) {
  sockaddr_storage storage{};
  socklen_t len = sizeof storage;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &len) < 0) return false;
  if (family == AF_UNIX) return len > offsetof(sockaddr_un, sun_path);  // named or abstract
  return Address::from_sockaddr(reinterpret_cast<sockaddr*>(&storage), len).port() != 0;
}

}  // namespace

void check_adoptable(int fd, int type, int family) {
  const std::string what = "adopt_socket(): descriptor " + std::to_string(fd);
  if (fd < 0) throw std::invalid_argument(what + ": no descriptor");
  const int its_type = int_option(fd, SO_TYPE, what);
  const int its_family = int_option(fd, SO_DOMAIN, what);
  const bool family_fits = family == AF_UNSPEC ? is_ip(its_family) || its_family == AF_UNIX
                                               : is_ip(family) == is_ip(its_family) &&
                                                     (is_ip(family) || its_family == family);
  if (its_type != type || !family_fits)
    throw std::invalid_argument(what + " is " + describe(its_family, its_type) +
                                "; this server needs " + wanted(family, type));
  if (type == SOCK_STREAM && !int_option(fd, SO_ACCEPTCONN, what))
    throw std::invalid_argument(what + " is " + describe(its_family, its_type) +
                                " that is not listening (listen() it first)");
  if (!is_bound(fd, its_family))
    throw std::invalid_argument(what + " is " + describe(its_family, its_type) +
                                " that is not bound to an address");
}

}  // namespace switchboard::detail
