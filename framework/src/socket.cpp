#include "switchboard/socket.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <string>
#include <system_error>

namespace switchboard {

void throw_errno(int err, const char* what) {
  throw std::system_error(err, std::generic_category(), what);
}
void throw_errno(const char* what) { throw_errno(errno, what); }

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.release();
  }
  return *this;
}

Socket Socket::open(int family, int type) {
  const int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_errno("socket");
  return Socket(fd);
}

int Socket::release() noexcept {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void Socket::close() noexcept {
  // close() is not retried on EINTR: on Linux the descriptor is gone either way.
  if (fd_ >= 0) ::close(release());
}

namespace {

// A non-blocking descriptor (lent by an event loop) waits here, as long as
// its SO_RCVTIMEO/SO_SNDTIMEO allows (false when that passed); a blocking one
// never gets EAGAIN except when that timeout expired (false at once).
bool wait_nonblocking(int fd, short events) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || !(flags & O_NONBLOCK)) return false;
  timeval tv{};
  socklen_t len = sizeof tv;
  int timeout_ms = -1;
  if (::getsockopt(fd, SOL_SOCKET, events == POLLIN ? SO_RCVTIMEO : SO_SNDTIMEO, &tv, &len) == 0 &&
      (tv.tv_sec != 0 || tv.tv_usec != 0))
    timeout_ms = static_cast<int>(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, timeout_ms);
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) throw_errno("poll");
  }
}

}  // namespace

// recv() until it returns: EINTR retried, a lent non-blocking descriptor
// waited on within its SO_RCVTIMEO, an expired timeout as errc::timed_out.
std::size_t Socket::recv_waiting(void* data, std::size_t size, int flags) {
  for (;;) {
    const ssize_t n = ::recv(fd_, data, size, flags);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (wait_nonblocking(fd_, POLLIN)) continue;
      throw_errno(ETIMEDOUT, "read timed out");
    }
    throw_errno("recv");
  }
}

std::size_t Socket::recv_some(void* data, std::size_t size) { return recv_waiting(data, size, 0); }

bool Socket::wait_readable() {
  char byte;
  return recv_waiting(&byte, 1, MSG_PEEK) > 0;  // blocks as recv does, takes nothing
}

bool Socket::wait_readable_or(int other) {
  timeval tv{};
  socklen_t len = sizeof tv;
  int timeout_ms = -1;  // SO_RCVTIMEO, which poll() does not see by itself
  if (::getsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, &len) == 0 && (tv.tv_sec || tv.tv_usec))
    timeout_ms = static_cast<int>(tv.tv_sec * 1000 + (tv.tv_usec + 999) / 1000);
  pollfd fds[2] = {{fd_, POLLIN, 0}, {other, POLLIN, 0}};
  for (;;) {
    const int n = ::poll(fds, 2, timeout_ms);
    if (n > 0) return fds[0].revents != 0;
    if (n == 0) throw_errno(ETIMEDOUT, "read timed out");
    if (errno != EINTR) throw_errno("poll");
  }
}

void Socket::wait_readable_until(std::chrono::steady_clock::time_point deadline) {
  using namespace std::chrono;
  for (;;) {
    const auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
    if (left <= 0) throw_errno(ETIMEDOUT, "no complete request before the first-request deadline");
    pollfd p{fd_, POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60'000)));
    if (n > 0) return;
    if (n < 0 && errno != EINTR) throw_errno("poll");
  }
}

long Socket::recv_nowait(void* data, std::size_t size) {
  for (;;) {
    const ssize_t n = ::recv(fd_, data, size, MSG_DONTWAIT);
    if (n >= 0) return static_cast<long>(n);
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return -1;
    throw_errno("recv");
  }
}

void Socket::send_all(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n >= 0) {
      data.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (wait_nonblocking(fd_, POLLOUT)) continue;
      throw_errno(ETIMEDOUT, "write timed out");
    }
    throw_errno("send");
  }
}

void Socket::send_to(std::string_view data, const Address& to) const {
  for (;;) {
    if (::sendto(fd_, data.data(), data.size(), MSG_NOSIGNAL, to.data(), to.size()) >= 0) return;
    if (errno == EINTR) continue;
    if ((errno == EAGAIN || errno == EWOULDBLOCK) && wait_nonblocking(fd_, POLLOUT)) continue;
    throw_errno(errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno, "sendto");
  }
}

Address Socket::local_address() const {
  sockaddr_storage storage{};
  socklen_t len = sizeof storage;
  if (::getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &len) < 0)
    throw_errno("getsockname");
  return Address::from_sockaddr(reinterpret_cast<sockaddr*>(&storage), len);
}

void Socket::set_option(int level, int name, int value) {
  if (::setsockopt(fd_, level, name, &value, sizeof value) < 0) throw_errno("setsockopt");
}

void Socket::set_timeout(int name, std::chrono::duration<double> timeout) {
  const double seconds = std::max(0.0, timeout.count());
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(seconds);
  tv.tv_usec = static_cast<suseconds_t>(std::lround((seconds - std::floor(seconds)) * 1e6));
  if (tv.tv_usec >= 1000000) {
    tv.tv_sec += 1;
    tv.tv_usec -= 1000000;
  }
  if (tv.tv_sec == 0 && tv.tv_usec == 0 && seconds > 0) tv.tv_usec = 1;  // 0 would mean none
  if (::setsockopt(fd_, SOL_SOCKET, name, &tv, sizeof tv) < 0) throw_errno("setsockopt timeout");
}

}  // namespace switchboard
