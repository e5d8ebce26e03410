// get_request() for stream servers: accept().

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <system_error>

#include "accept.hpp"
#include "counters.hpp"
#include "switchboard/server.hpp"

namespace switchboard {
namespace detail {

void apply_timeouts(Socket& s, const ServerOptions& o) {
  if (o.timeout.count() > 0) s.set_timeout(SO_RCVTIMEO, o.timeout);
  if (o.write_timeout.count() > 0) s.set_timeout(SO_SNDTIMEO, o.write_timeout);
}

int accept_connection(int listener, bool configure, const ServerOptions& options, Request& out) {
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  const int fd = ::accept4(listener, reinterpret_cast<sockaddr*>(&peer), &len, SOCK_CLOEXEC);
  if (fd < 0) return errno;
  out.connection = Socket(fd);
  out.client_address = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&peer), len);
  if (configure) {
    try {
      apply_timeouts(out.connection, options);
      if (options.tcp_nodelay && out.client_address.is_ip())
        out.connection.set_option(IPPROTO_TCP, TCP_NODELAY, 1);
    } catch (const std::system_error&) {  // the peer is gone already: take the next
      out.connection.close();
      return ECONNABORTED;
    }
  }
  return 0;
}

}  // namespace detail

StreamServer::StreamServer(Address address, HandlerFactory factory, ServerOptions options)
    : BaseServer(std::move(address), SOCK_STREAM, std::move(factory), std::move(options)),
      spare_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {
  // A TCP connection inherits these from its listener (the kernel clones the
  // listening socket), which saves two or three syscalls per connection.
  if (server_address().is_ip()) {
    Socket& listener = *socket_ptr();
    if (this->options().tcp_nodelay) listener.set_option(IPPROTO_TCP, TCP_NODELAY, 1);
    detail::apply_timeouts(listener, this->options());
  }
}

// Out of descriptors, a waiting client would hang in the backlog and the
// listener would stay readable. The spare descriptor (libev's and muduo's
// trick) frees one slot to accept the client and close it at once: it sees
// the refusal, and the loop does not spin.
StreamServer::SpareOutcome StreamServer::refuse_with_spare_descriptor() {
  const int err = errno;
  if (!spare_) return SpareOutcome::failed;
  spare_.close();
  const int fd = ::accept4(socket().fd(), nullptr, nullptr, SOCK_CLOEXEC);
  const int accept_err = errno;
  if (fd >= 0) ::close(fd);
  spare_ = Socket(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (fd < 0) {
    if (accept_err == EAGAIN || accept_err == EWOULDBLOCK) return SpareOutcome::nobody_waiting;
    return SpareOutcome::failed;
  }
  detail::Counters::bump(counters().accept_errors);
  detail::Counters::bump(counters().refused);
  report_out_of_descriptors(err);
  return SpareOutcome::refused;
}

void StreamServer::report_out_of_descriptors(int err) {
  if (out_of_descriptors_) return;  // once per episode, not once per client
  out_of_descriptors_ = true;
  std::fprintf(stderr, "switchboard: accept on %s: %s; refusing connections until some close\n",
               server_address().to_string().c_str(), std::strerror(err));
}

bool StreamServer::get_request(Request& request) {
  const int listener = socket().fd();
  for (;;) {
    const int err = detail::accept_connection(
        listener, !server_address().is_ip() || socket_borrowed(), options(), request);
    if (err == 0) {
      accept_backoff_ = Seconds{0};
      out_of_descriptors_ = false;
      return true;
    }
    errno = err;
    switch (err) {
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
        // accept() takes a descriptor before it looks for a client, so this
        // also comes when nobody waits: then there is nothing to do.
        switch (refuse_with_spare_descriptor()) {
          case SpareOutcome::refused:
            continue;
          case SpareOutcome::nobody_waiting:
            return false;
          case SpareOutcome::failed:
            break;  // back off like the others
        }
        [[fallthrough]];
      case ENOBUFS:
      case ENOMEM: {
        // The listener stays readable, so retrying at once would spin. Back
        // off (shutdown still wakes us).
        detail::Counters::bump(counters().accept_errors);
        report_out_of_descriptors(errno);
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
