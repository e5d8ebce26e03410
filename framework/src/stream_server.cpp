// get_request() for stream servers: accept().

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "counters.hpp"
#include "switchboard/server.hpp"

namespace switchboard {
namespace {

void apply_timeouts(Socket& s, const ServerOptions& o) {
  if (o.timeout.count() > 0) s.set_timeout(SO_RCVTIMEO, o.timeout);
  if (o.write_timeout.count() > 0) s.set_timeout(SO_SNDTIMEO, o.write_timeout);
}

}  // namespace

StreamServer::StreamServer(Address address, HandlerFactory factory, ServerOptions options)
    : BaseServer(std::move(address), SOCK_STREAM, std::move(factory), std::move(options)) {
  // A TCP connection inherits these from its listener (the kernel clones the
  // listening socket), which saves two or three syscalls per connection.
  if (server_address().is_ip()) {
    Socket& listener = *socket_ptr();
    if (this->options().tcp_nodelay) listener.set_option(IPPROTO_TCP, TCP_NODELAY, 1);
    apply_timeouts(listener, this->options());
  }
}

bool StreamServer::get_request(Request& request) {
  const int listener = socket().fd();
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
    if (fd >= 0) {
      accept_backoff_ = Seconds{0};
      request.connection = Socket(fd);
      request.client_address = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&peer), len);
      if (!server_address().is_ip()) apply_timeouts(request.connection, options());
      return true;
    }
    switch (errno) {
      case EAGAIN:
      case EINVAL:  // drain() shut the listener down
        return false;
      case EINTR:
      case ECONNABORTED:  // the peer gave up while queued: take the next one
      case EPROTO:
      case ENETDOWN:
      case ENOPROTOOPT:
      case EHOSTDOWN:
      case ENONET:
      case EHOSTUNREACH:
      case EOPNOTSUPP:
      case ENETUNREACH:
        continue;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM: {
        // Out of descriptors or memory: the listener stays readable, so
        // retrying at once would spin. Back off (shutdown still wakes us).
        detail::Counters::bump(counters().accept_errors);
        const int err = errno;
        if (accept_backoff_.count() == 0) {
          std::fprintf(stderr, "switchboard: accept on %s: %s; backing off\n",
                       server_address().to_string().c_str(), std::strerror(err));
        }
        accept_backoff_ = std::min(Seconds{1}, std::max(Seconds{0.01}, accept_backoff_ * 2));
        wait_for_wake(accept_backoff_);
        return false;
      }
      default:
        detail::Counters::bump(counters().accept_errors);
        return false;
    }
  }
}

}  // namespace switchboard
