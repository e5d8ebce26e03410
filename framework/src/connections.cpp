#include "connections.hpp"

#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <memory>

#include "switchboard/socket.hpp"

namespace switchboard::detail {

void throw_cut() { throw_errno(ECONNABORTED, "connection cut at the close deadline"); }

void ConnectionEntryDeleter::operator()(ActiveConnection* node) const noexcept {
  std::unique_ptr<ActiveConnection> owned(node);
  owned->set->remove(*owned);
}

// At a request boundary the connection is idle: once the server drains, an
// idle connection is finished, unless the kernel already holds its next bytes.
// Marked idle, the reader takes no byte before it claims the connection back
// (the drain ends one only by winning that claim): bytes taken while marked
// idle could be the start of a request the drain then cuts short.
std::size_t ActiveConnection::next_request(Socket& s, char* into, std::size_t size,
                                           std::chrono::steady_clock::time_point first_deadline) {
  if (first_deadline != std::chrono::steady_clock::time_point{})
    s.wait_readable_until(first_deadline);
  if (ended.load()) return 0;
  idle.store(true);  // seq_cst, paired with the drain's store then scan
  struct Busy {
    ActiveConnection& c;
    ~Busy() { c.idle.store(false, std::memory_order_relaxed); }
  } busy{*this};
  if (draining->load()) {
    if (!idle.exchange(false)) return 0;  // the drain claimed it first
    const long n = s.recv_nowait(into, size);
    return n < 0 ? 0 : static_cast<std::size_t>(n);
  }
  const bool bytes = s.wait_readable();
  if (!idle.exchange(false)) return 0;
  return bytes ? s.recv_some(into, size) : 0;
}

ActiveSet::ActiveSet(std::size_t max_connections) : limit_(max_connections) {
  head_.next = head_.prev = &head_;
}

ConnectionEntry ActiveSet::admit(int fd, const std::atomic<bool>& draining) {
  if (!limit_.try_acquire()) return nullptr;
  std::unique_ptr<ActiveConnection> node;
  try {
    node = std::make_unique<ActiveConnection>();
  } catch (...) {
    limit_.release();
    throw;
  }
  node->fd = fd;
  node->set = this;
  node->draining = &draining;
  std::lock_guard lock(mutex_);
  node->prev = head_.prev;
  node->next = &head_;
  head_.prev->next = node.get();
  head_.prev = node.get();
  return ConnectionEntry(node.release());
}

void ActiveSet::remove(ActiveConnection& node) noexcept {
  {
    std::lock_guard lock(mutex_);
    node.prev->next = node.next;
    node.next->prev = node.prev;
    node.prev = node.next = nullptr;
  }
  limit_.release();
}

void ActiveSet::forget_fd(ActiveConnection& node) noexcept {
  std::lock_guard lock(mutex_);
  node.fd = -1;
}

void ActiveSet::shutdown_idle() {
  std::lock_guard lock(mutex_);
  for (auto* n = head_.next; n != &head_; n = n->next) {
    if (n->fd < 0) continue;
    const bool queued = !n->started.load();
    if (!queued && !n->idle.load()) continue;  // a request in flight
    // Bytes already waiting mean a request is arriving: not idle after all.
    int unread = 0;
    if (::ioctl(n->fd, FIONREAD, &unread) == 0 && unread > 0) continue;
    // Its reader claims it back (idle -> busy) before it takes a byte: the
    // one of us who wins the claim decides.
    bool idle = true;
    if (!queued && !n->idle.compare_exchange_strong(idle, false)) continue;
    n->ended.store(true);
    ::shutdown(n->fd, queued ? SHUT_RDWR : SHUT_RD);
  }
}

std::size_t ActiveSet::cut_all() {
  std::lock_guard lock(mutex_);
  std::size_t cut = 0;
  for (auto* n = head_.next; n != &head_; n = n->next) {
    if (n->fd < 0 || n->cut.exchange(true)) continue;
    ::shutdown(n->fd, SHUT_RDWR);
    ++cut;
  }
  return cut;
}

}  // namespace switchboard::detail
