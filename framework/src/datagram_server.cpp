// get_request() for datagram servers: recvfrom().

#include <sys/socket.h>

#include <cerrno>
#include <stdexcept>
#include <string>

#include "counters.hpp"
#include "handler_run.hpp"
#include "switchboard/server.hpp"

namespace switchboard {

DatagramServer::DatagramServer(Address address, HandlerFactory factory, ServerOptions options)
    : BaseServer(std::move(address), SOCK_DGRAM, std::move(factory), std::move(options)) {
  if (this->options().max_datagram == 0)
    throw std::invalid_argument("max_datagram must be at least 1");
  buffer_.resize(this->options().max_datagram);
}

bool DatagramServer::get_request(Request& request) {
  const int fd = socket().fd();
  for (;;) {
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    // MSG_TRUNC: the result is the datagram's real size, so an oversized one is
    // seen as such instead of arriving silently cut to the buffer.
    const ssize_t n = ::recvfrom(fd, buffer_.data(), buffer_.size(), MSG_TRUNC,
                                 reinterpret_cast<sockaddr*>(&peer), &len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) detail::Counters::bump(counters().accept_errors);
      return false;
    }
    request.client_address = Address::from_sockaddr(reinterpret_cast<sockaddr*>(&peer), len);
    if (static_cast<std::size_t>(n) > buffer_.size()) {
      detail::HandlerRun::dropped(*this, request, static_cast<std::size_t>(n));
      continue;
    }
    request.packet.assign(buffer_.data(), static_cast<std::size_t>(n));
    request.reply_socket = socket_ptr();
    return true;
  }
}

}  // namespace switchboard
