#include "idle.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>

#include "load.hpp"

namespace loadgen {

namespace {

constexpr int kInFlight = 256;  // connects pending at once: the server's backlog is finite

}  // namespace

IdleConnections::~IdleConnections() {
  for (int fd : fds_)
    if (fd >= 0) ::close(fd);
  if (ep_ >= 0) ::close(ep_);
}

void IdleConnections::open(int count, double timeout_s) {
  ep_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep_ < 0) throw std::runtime_error("epoll_create1 failed");
  const std::uint64_t start = now_ns();
  const std::uint64_t deadline = start + static_cast<std::uint64_t>(timeout_s * 1e9);
  fds_.assign(static_cast<std::size_t>(count), -1);
  std::vector<bool> pending(fds_.size(), false);
  int next = 0, in_flight = 0;
  epoll_event events[256];
  while ((next < count || in_flight > 0) && now_ns() < deadline) {
    while (next < count && in_flight < kInFlight) {
      const int i = next++;
      const int fd = ::socket(target_.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      ++result_.opened;
      if (fd < 0) {
        ++result_.refused;
        continue;
      }
      const int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&target_.addr), target_.len);
      if (rc < 0 && errno != EINPROGRESS && errno != EAGAIN) {
        ::close(fd);
        ++result_.refused;
        continue;
      }
      fds_[i] = fd;
      // A Unix listener with a full backlog says EAGAIN: writable once there is room.
      epoll_event ev{EPOLLOUT | EPOLLIN | EPOLLRDHUP, {}};
      ev.data.u32 = static_cast<std::uint32_t>(i);
      ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
      pending[i] = true;
      ++in_flight;
    }
    const int n = ::epoll_wait(ep_, events, 256, 10);
    for (int k = 0; k < n; ++k) {
      const std::uint32_t i = events[k].data.u32;
      if (!pending[i]) continue;
      pending[i] = false;
      --in_flight;
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fds_[i], SOL_SOCKET, SO_ERROR, &err, &len);
      if (err || (events[k].events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR))) {
        ::close(fds_[i]);
        fds_[i] = -1;
        ++result_.refused;
        continue;
      }
      ++result_.established;
      epoll_event ev{EPOLLIN | EPOLLRDHUP, {}};  // from now on: only the server's end
      ev.data.u32 = i;
      ::epoll_ctl(ep_, EPOLL_CTL_MOD, fds_[i], &ev);
    }
  }
  for (std::size_t i = 0; i < fds_.size(); ++i) {  // still connecting at the deadline
    if (!pending[i]) continue;
    ::close(fds_[i]);
    fds_[i] = -1;
    ++result_.refused;
  }
  result_.connect_seconds = static_cast<double>(now_ns() - start) / 1e9;
}

void IdleConnections::watch(std::uint64_t until_ns) {
  if (ep_ < 0) return;
  epoll_event events[256];
  for (std::uint64_t now = now_ns(); now < until_ns; now = now_ns()) {
    const int wait_ms =
        static_cast<int>(std::min<std::uint64_t>((until_ns - now) / 1'000'000 + 1, 100));
    const int n = ::epoll_wait(ep_, events, 256, wait_ms);
    for (int k = 0; k < n; ++k) {
      const std::uint32_t i = events[k].data.u32;
      if (fds_[i] < 0) continue;
      char byte;
      const ssize_t r = ::recv(fds_[i], &byte, 1, MSG_DONTWAIT);
      if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EINTR))) continue;
      ::close(fds_[i]);  // the server ended it (EOF or reset)
      fds_[i] = -1;
      ++result_.closed;
    }
  }
}

}  // namespace loadgen
