#include "switchboard/handler.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <stdexcept>

#include "reactor/reply_sink.hpp"

namespace switchboard {
namespace {

// Datagram replies share the server's non-blocking socket: wait for room,
// but never longer than the write timeout (1 s if none). A Unix datagram
// client whose receive queue is full refuses the send while poll() says
// writable (poll sees only our own buffer): those waits pause and back off
// instead of spinning.
void send_datagram(const Socket& socket, std::string_view data, const Address& to,
                   Seconds timeout) {
  using namespace std::chrono;
  if (to.size() <= sizeof(sa_family_t)) return;  // an unbound Unix client cannot be answered
  const auto deadline = steady_clock::now() + duration_cast<steady_clock::duration>(
                                                  timeout.count() > 0 ? timeout : Seconds{1});
  bool peer_full = false;
  int pause_ms = 1;
  for (;;) {
    if (::sendto(socket.fd(), data.data(), data.size(), MSG_NOSIGNAL, to.data(), to.size()) >= 0)
      return;
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) throw_errno("sendto");
    const auto left_ms = ceil<milliseconds>(deadline - steady_clock::now()).count();
    if (left_ms <= 0) throw_errno(ETIMEDOUT, "datagram reply timed out");
    const int wait_ms = static_cast<int>(std::min<long long>(left_ms, 1000 * 1000));
    if (peer_full) {
      ::poll(nullptr, 0, std::min(pause_ms, wait_ms));
      pause_ms = std::min(pause_ms * 2, 128);
      continue;
    }
    pollfd p{socket.fd(), POLLOUT, 0};
    peer_full = ::poll(&p, 1, wait_ms) > 0;
  }
}

}  // namespace

std::unique_ptr<BaseRequestHandler> HandlerFactory::operator()() const { return make_(); }

void StreamRequestHandler::setup() {
  Request& r = request();
  if (!r.connection) throw std::logic_error("StreamRequestHandler needs a stream server");
  const ServerOptions& o = server().options();
  wfile = StreamWriter(&r.connection, o.write_buffer);
  rfile = StreamReader(&r.connection, &wfile, o.max_line, r.entry.get());
  if (o.first_request_timeout.count() > 0)
    rfile.set_first_request_deadline(
        std::chrono::steady_clock::now() +
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(o.first_request_timeout));
}

void StreamRequestHandler::finish() { wfile.flush(); }

void DatagramRequestHandler::setup() {
  if (!request().is_datagram())
    throw std::logic_error("DatagramRequestHandler needs a datagram server");
  rfile = StreamReader(request().packet, server().options().max_line);
  wfile = StreamWriter(nullptr);
}

void DatagramRequestHandler::send_to(std::string_view data, const Address& to) {
  send_datagram(*request().reply_socket, data, to, server().options().write_timeout);
}

void DatagramRequestHandler::finish() {
  if (!wfile.written()) return;
  if (sink_) return sink_->queue(client_address(), wfile.buffer());
  send_datagram(*request().reply_socket, wfile.buffer(), client_address(),
                server().options().write_timeout);
}

}  // namespace switchboard
