#include "crowd.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>
#include <stdexcept>
#include <system_error>

namespace switchboard::test {
namespace {

struct Target {
  sockaddr_storage storage{};
  socklen_t size = 0;
};

Target target_of(const Listening& l) {
  Target t;
  if (l.scheme == "unix") {
    auto* un = reinterpret_cast<sockaddr_un*>(&t.storage);
    if (l.path.size() >= sizeof un->sun_path) throw std::invalid_argument("path too long");
    un->sun_family = AF_UNIX;
    std::memcpy(un->sun_path, l.path.c_str(), l.path.size() + 1);
    t.size = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + l.path.size() + 1);
    return t;
  }
  if (l.scheme != "tcp") throw std::invalid_argument("Crowd needs a stream server: " + l.url);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&t.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&t.storage);
  if (::inet_pton(AF_INET, l.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(l.port);
    t.size = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, l.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(l.port);
    t.size = sizeof(sockaddr_in6);
  } else {
    throw std::invalid_argument("not an IP literal: " + l.host);
  }
  return t;
}

}  // namespace

const char* to_string(Ending ending) {
  switch (ending) {
    case Ending::open:
      return "open";
    case Ending::eof:
      return "eof";
    case Ending::reset:
      return "reset";
    case Ending::connect_failed:
      return "connect_failed";
    case Ending::closed:
      return "closed";
  }
  return "?";
}

Crowd::Crowd(Listening server) : server_(std::move(server)) {}

std::size_t Crowd::connect(std::size_t n) {
  const Target t = target_of(server_);
  const std::size_t first = peers_.size();
  peers_.reserve(first + n);
  for (std::size_t i = 0; i < n; ++i) {
    Peer& p = peers_.emplace_back();
    p.started = Clock::now();
    p.fd.reset(::socket(t.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!p.fd) throw std::system_error(errno, std::generic_category(), "socket");
    if (::connect(p.fd.get(), reinterpret_cast<const sockaddr*>(&t.storage), t.size) == 0) {
      p.connected = true;
      p.connected_at = Clock::now();
    } else if (errno != EINPROGRESS) {
      end(p, Ending::connect_failed, errno);
    }
  }
  return first;
}

bool Crowd::wait_connected(Duration timeout) {
  return drive_until(
      [this] {
        for (const Peer& p : peers_)
          if (!p.connected && !p.ended()) return false;
        return true;
      },
      timeout);
}

void Crowd::send(std::size_t i, std::string_view data, bool then_close_write) {
  Peer& p = peers_.at(i);
  p.outbox.append(data);
  p.close_write_when_sent = then_close_write;
}

bool Crowd::drive_until(const std::function<bool()>& done, Duration timeout) {
  const Deadline deadline(timeout);
  while (!done()) {
    if (deadline.expired()) return false;
    step(deadline.poll_ms());
  }
  return true;
}

bool Crowd::wait_all_ended(Duration timeout) {
  return drive_until(
      [this] {
        for (const Peer& p : peers_)
          if (!p.ended()) return false;
        return true;
      },
      timeout);
}

void Crowd::drive_for(Duration duration) {
  const Deadline deadline(duration);
  while (!deadline.expired()) step(deadline.poll_ms());
}

void Crowd::step(int timeout_ms) {
  std::vector<pollfd> fds;
  std::vector<std::size_t> who;
  fds.reserve(peers_.size());
  for (std::size_t i = 0; i < peers_.size(); ++i) {
    const Peer& p = peers_[i];
    if (p.ended() || !p.fd) continue;
    short events = 0;
    if (!p.connected) {
      events = POLLOUT;
    } else {
      events = POLLIN;
      if (!p.all_sent() && p.send_error == 0) events |= POLLOUT;
      if (p.all_sent() && p.close_write_when_sent && !p.write_closed) events |= POLLOUT;
    }
    fds.push_back({p.fd.get(), events, 0});
    who.push_back(i);
  }
  if (fds.empty()) {
    ::poll(nullptr, 0, std::min(timeout_ms, 10));  // nothing to wait on: a deadline's breath
    return;
  }
  const int n = ::poll(fds.data(), fds.size(), timeout_ms);
  if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "poll");
  if (n <= 0) return;
  for (std::size_t k = 0; k < fds.size(); ++k) {
    if (!fds[k].revents) continue;
    Peer& p = peers_[who[k]];
    if (!p.connected) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(p.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        end(p, Ending::connect_failed, err);
        continue;
      }
      p.connected = true;
      p.connected_at = Clock::now();
    }
    if (fds[k].revents & (POLLIN | POLLHUP | POLLERR)) on_readable(p);
    if (!p.ended() && (fds[k].revents & POLLOUT)) on_writable(p);
  }
}

void Crowd::on_writable(Peer& p) {
  while (!p.all_sent() && p.send_error == 0) {
    const ssize_t n =
        ::send(p.fd.get(), p.outbox.data() + p.sent, p.outbox.size() - p.sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) p.send_error = errno;
      break;
    }
    p.sent += static_cast<std::size_t>(n);
  }
  if (p.all_sent() && p.close_write_when_sent && !p.write_closed) {
    ::shutdown(p.fd.get(), SHUT_WR);
    p.write_closed = true;
  }
}

void Crowd::on_readable(Peer& p) {
  char chunk[64 * 1024];
  const ssize_t n = ::recv(p.fd.get(), chunk, sizeof chunk, MSG_DONTWAIT);
  if (n > 0) {
    if (p.received.empty()) p.first_byte_at = Clock::now();
    p.received.append(chunk, static_cast<std::size_t>(n));
  } else if (n == 0) {
    end(p, Ending::eof);
  } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    end(p, Ending::reset, errno);
  }
}

void Crowd::end(Peer& p, Ending ending, int error) {
  p.ending = ending;
  p.error = error;
  p.ended_at = Clock::now();
}

void Crowd::abort(std::size_t i) {
  Peer& p = peers_.at(i);
  const linger now{1, 0};
  ::setsockopt(p.fd.get(), SOL_SOCKET, SO_LINGER, &now, sizeof now);
  p.fd.reset();
  if (!p.ended()) end(p, Ending::closed);
}

void Crowd::close(std::size_t i) {
  Peer& p = peers_.at(i);
  p.fd.reset();
  if (!p.ended()) end(p, Ending::closed);
}

std::size_t Crowd::count(const std::function<bool(const Peer&)>& pred) const {
  std::size_t n = 0;
  for (const Peer& p : peers_)
    if (pred(p)) ++n;
  return n;
}

std::size_t Crowd::count(Ending ending) const {
  return count([ending](const Peer& p) { return p.ending == ending; });
}

std::string Crowd::summary() const {
  std::map<std::string, std::size_t> by;
  for (const Peer& p : peers_) {
    std::string key = to_string(p.ending);
    if (p.error) key += "(" + std::string(std::strerror(p.error)) + ")";
    ++by[key];
  }
  std::ostringstream out;
  for (const auto& [key, n] : by) out << (out.tellp() > 0 ? ", " : "") << n << " " << key;
  // The first few still open, in detail: what a hang looked like.
  int shown = 0;
  for (std::size_t i = 0; i < peers_.size() && shown < 3; ++i) {
    const Peer& p = peers_[i];
    if (p.ended()) continue;
    ++shown;
    out << "; open peer " << i << ": connected=" << p.connected << " sent " << p.sent << "/"
        << p.outbox.size() << (p.write_closed ? " then half-closed" : "") << " received "
        << p.received.size() << " bytes";
    if (p.received.size() <= 64) out << " '" << p.received << "'";
  }
  return out.str();
}

}  // namespace switchboard::test
