#include "switchboard/client.hpp"

#include <fcntl.h>
#include <poll.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <string>
#include <system_error>

namespace switchboard {
namespace {

[[noreturn]] void fail(int err, const Address& to) {
  throw std::system_error(err, std::generic_category(), "connect " + to.to_string());
}

// A non-blocking connect, waited for in poll() up to `timeout`.
Socket connect_within(const Address& to, Seconds timeout) {
  if (!to.is_ip() && !to.is_unix()) throw std::invalid_argument("connect: no address");
  Socket s = Socket::open(to.family(), SOCK_STREAM | SOCK_NONBLOCK);
  if (::connect(s.fd(), to.data(), to.size()) < 0) {
    if (errno != EINPROGRESS && errno != EAGAIN) fail(errno, to);
    const int ms = timeout.count() > 0 ? static_cast<int>(std::ceil(timeout.count() * 1000)) : -1;
    pollfd p{s.fd(), POLLOUT, 0};
    int n;
    while ((n = ::poll(&p, 1, ms)) < 0 && errno == EINTR) {
    }
    if (n == 0) fail(ETIMEDOUT, to);
    int err = 0;
    socklen_t len = sizeof err;
    if (n < 0 || ::getsockopt(s.fd(), SOL_SOCKET, SO_ERROR, &err, &len) < 0) fail(errno, to);
    if (err != 0) fail(err, to);
  }
  ::fcntl(s.fd(), F_SETFL, ::fcntl(s.fd(), F_GETFL) & ~O_NONBLOCK);
  return s;
}

}  // namespace

ClientConnection::ClientConnection(const Address& to, Seconds timeout, std::size_t max_line)
    : socket_(connect_within(to, timeout)), wfile(&socket_), rfile(&socket_, &wfile, max_line) {
  if (timeout.count() > 0) {
    socket_.set_timeout(SO_RCVTIMEO, timeout);
    socket_.set_timeout(SO_SNDTIMEO, timeout);
  }
}

void ClientConnection::shutdown_write() {
  wfile.flush();
  if (::shutdown(socket_.fd(), SHUT_WR) < 0) throw_errno("shutdown");
}

}  // namespace switchboard
