#include "support/client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace switchboard::test {
namespace {

[[noreturn]] void fail(const std::string& what, int err) {
  throw std::system_error(err, std::generic_category(), what);
}
// errno read before `what` is built: building it may allocate and touch errno.
[[noreturn]] void fail(const char* op, const std::string& target = {}) {
  const int err = errno;
  fail(target.empty() ? std::string(op) : std::string(op) + " " + target, err);
}

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t size = 0;
  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

SockAddr ip_address(const std::string& host, std::uint16_t port) {
  SockAddr a;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.size = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.size = sizeof(sockaddr_in6);
  } else {
    throw std::invalid_argument("not an IP literal: " + host);
  }
  return a;
}

SockAddr unix_address(const std::string& path) {
  SockAddr a;
  auto* un = reinterpret_cast<sockaddr_un*>(&a.storage);
  if (path.size() >= sizeof un->sun_path) throw std::invalid_argument("path too long: " + path);
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.c_str(), path.size() + 1);
  a.size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return a;
}

UniqueFd open_socket(int family, int type) {
  UniqueFd fd(::socket(family, type | SOCK_CLOEXEC, 0));
  if (!fd) fail("socket");
  // A failure bound for sends to a peer that stopped reading.
  timeval tv{static_cast<time_t>(kTimeout / 1s), 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

// connect() bounded by `timeout`: non-blocking for the connect, blocking after.
UniqueFd connect_stream(const SockAddr& to, Duration timeout, const std::string& name) {
  UniqueFd fd = open_socket(to.family(), SOCK_STREAM | SOCK_NONBLOCK);
  if (::connect(fd.get(), to.get(), to.size) < 0) {
    if (errno != EINPROGRESS) fail("connect", name);
    pollfd p{fd.get(), POLLOUT, 0};
    const Deadline deadline(timeout);
    int ready = 0;
    while ((ready = ::poll(&p, 1, deadline.poll_ms())) < 0 && errno == EINTR) {
    }
    if (ready == 0) fail("connect " + name, ETIMEDOUT);
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) fail("connect " + name, err);
  }
  ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  return fd;
}

// Waits until `fd` is readable; throws timed_out at the deadline.
void wait_readable(int fd, const Deadline& deadline) {
  pollfd p{fd, POLLIN, 0};
  int ready = 0;
  while ((ready = ::poll(&p, 1, deadline.poll_ms())) < 0 && errno == EINTR) {
  }
  if (ready < 0) fail("poll");
  if (ready == 0) fail("no reply in time", ETIMEDOUT);
}

}  // namespace

Client Client::tcp(const std::string& host, std::uint16_t port, Duration timeout) {
  return Client(
      connect_stream(ip_address(host, port), timeout, host + " port " + std::to_string(port)));
}

Client Client::udp(const std::string& host, std::uint16_t port) {
  const SockAddr to = ip_address(host, port);
  UniqueFd fd = open_socket(to.family(), SOCK_DGRAM);
  if (::connect(fd.get(), to.get(), to.size) < 0) fail("connect udp", host);
  return Client(std::move(fd));
}

Client Client::unix_stream(const std::string& path, Duration timeout) {
  return Client(connect_stream(unix_address(path), timeout, path));
}

Client Client::unix_datagram(const std::string& server_path, const std::string& client_path) {
  const SockAddr self = unix_address(client_path);
  const SockAddr to = unix_address(server_path);
  UniqueFd fd = open_socket(AF_UNIX, SOCK_DGRAM);
  if (::bind(fd.get(), self.get(), self.size) < 0) fail("bind", client_path);
  if (::connect(fd.get(), to.get(), to.size) < 0) fail("connect", server_path);
  return Client(std::move(fd));
}

void Client::send_all(std::string_view data) {
  do {  // once at least: an empty datagram is a datagram
    const ssize_t n = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("send");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  } while (!data.empty());
}

void Client::shutdown_write() {
  if (::shutdown(fd_.get(), SHUT_WR) < 0) fail("shutdown");
}

bool Client::fill(const Deadline& deadline) {
  wait_readable(fd_.get(), deadline);
  char chunk[16 * 1024];
  ssize_t n = 0;
  while ((n = ::recv(fd_.get(), chunk, sizeof chunk, MSG_DONTWAIT)) < 0 && errno == EINTR) {
  }
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;  // woken for nothing
  if (n < 0 && errno == ECONNRESET) {
    reset_ = true;
    return false;
  }
  if (n < 0) fail("recv");
  buffer_.append(chunk, static_cast<std::size_t>(n));
  return n > 0;
}

std::string Client::recv_line(Duration timeout) {
  const Deadline deadline(timeout);
  for (;;) {
    if (const auto nl = buffer_.find('\n'); nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl + 1);
      buffer_.erase(0, nl + 1);
      return line;
    }
    if (!fill(deadline)) return std::exchange(buffer_, {});
  }
}

std::string Client::recv_exactly(std::size_t n, Duration timeout) {
  const Deadline deadline(timeout);
  while (buffer_.size() < n && fill(deadline)) {
  }
  std::string bytes = buffer_.substr(0, n);
  buffer_.erase(0, bytes.size());
  return bytes;
}

std::string Client::recv_until_eof(Duration timeout) {
  const Deadline deadline(timeout);
  while (fill(deadline)) {
  }
  return std::exchange(buffer_, {});
}

std::string Client::recv_datagram(Duration timeout) {
  wait_readable(fd_.get(), Deadline(timeout));
  std::string datagram(64 * 1024, '\0');
  const ssize_t n = ::recv(fd_.get(), datagram.data(), datagram.size(), MSG_DONTWAIT);
  if (n < 0) fail("recv");
  datagram.resize(static_cast<std::size_t>(n));
  return datagram;
}

BoundSocket bind_loopback(int type, const std::string& host, bool listen) {
  const SockAddr any = ip_address(host, 0);
  BoundSocket bound{open_socket(any.family(), type)};
  if (::bind(bound.fd.get(), any.get(), any.size) < 0) fail("bind", host);
  if (type == SOCK_STREAM && listen && ::listen(bound.fd.get(), 16) < 0) fail("listen");
  SockAddr local;
  local.size = sizeof local.storage;
  if (::getsockname(bound.fd.get(), reinterpret_cast<sockaddr*>(&local.storage), &local.size) < 0)
    fail("getsockname");
  const auto* v4 = reinterpret_cast<const sockaddr_in*>(&local.storage);
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&local.storage);
  bound.port = ntohs(local.family() == AF_INET ? v4->sin_port : v6->sin6_port);
  return bound;
}

UniqueFd bind_unix(const std::string& path, int type) {
  const SockAddr at = unix_address(path);
  UniqueFd fd = open_socket(AF_UNIX, type);
  if (::bind(fd.get(), at.get(), at.size) < 0) fail("bind", path);
  if (type == SOCK_STREAM && ::listen(fd.get(), 16) < 0) fail("listen");
  return fd;
}

bool ipv6_loopback_available() {
  try {
    bind_loopback(SOCK_STREAM, "::1");
    return true;
  } catch (const std::system_error&) {
    return false;
  }
}

}  // namespace switchboard::test
