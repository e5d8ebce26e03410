#pragma once
// Internal: the open stream connections of a server, from accept to close.
// max_connections counts them, the drain ends the idle and queued ones through
// them, and the close deadline cuts whatever is left.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <mutex>

#include "switchboard/detail/limit.hpp"
#include "switchboard/request.hpp"

namespace switchboard {
class Socket;
}

namespace switchboard::detail {

class ActiveSet;
struct ActiveConnection;

/// What a stream reader does when it needs the first bytes of a next request
/// (nothing buffered): the policy's choice, installed on the connection. With
/// none, the reader waits on its thread and the drain claims it (the
/// threads' way: ActiveConnection::next_request()).
class RequestBoundary {
 public:
  /// Reads the first bytes of a next request into `into`: how many; 0 when
  /// the connection is finished (the peer's end, or the drain's). Until
  /// `first_deadline` (epoch: none) a first request is awaited. Throws as
  /// Socket::recv_some() does, or unwinds the handler (Parked).
  virtual std::size_t next_request(ActiveConnection& c, Socket& s, char* into, std::size_t size,
                                   std::chrono::steady_clock::time_point first_deadline) = 0;
  /// The reader returned the connection's first request.
  virtual void first_request_read() noexcept {}

 protected:
  ~RequestBoundary() = default;
};

/// One open connection: a node of ActiveSet's intrusive list, owned by its
/// Request through a ConnectionEntry (on the heap, since requests move between threads).
struct ActiveConnection {
  int fd = -1;  // -1 once the descriptor lives in a forked child
  ActiveSet* set = nullptr;
  const std::atomic<bool>* draining = nullptr;  // the server's: idle now means finished
  std::atomic<bool> started{false};             // a handler has taken it; before that it is queued
  std::atomic<bool> idle{false};   // its reader waits at a request boundary, nothing buffered
                                   // or taken; the reader and the drain race to clear it
  std::atomic<bool> ended{false};  // the drain ended it at a boundary: its reader sees the end
  std::atomic<bool> cut{false};    // the close deadline shut it down: what is read is no request
  RequestBoundary* boundary = nullptr;  // the policy's; null: the threads' claim
  ActiveConnection* prev = nullptr;
  ActiveConnection* next = nullptr;

  /// The threads' way at a request boundary: marked idle, the reader takes no
  /// byte before it claims the connection back from the drain.
  std::size_t next_request(Socket& s, char* into, std::size_t size,
                           std::chrono::steady_clock::time_point first_deadline);
};

/// Thread safe.
class ActiveSet {
 public:
  /// At most `max_connections` open at once (0: no limit).
  explicit ActiveSet(std::size_t max_connections);

  /// Adds the connection on `fd` if there is room (a null entry if not); it
  /// leaves the set when the entry is destroyed.
  ConnectionEntry admit(int fd, const std::atomic<bool>& draining);
  /// Unlinks the node: after it returns nothing here touches node.fd.
  void remove(ActiveConnection& node) noexcept;
  /// The descriptor went to a child process: stop touching it, keep counting it.
  void forget_fd(ActiveConnection& node) noexcept;

  std::size_t size() const { return limit_.in_use(); }
  std::size_t peak() const { return limit_.peak(); }
  /// Waits until there is room for one more; false if `stopping()` became true.
  bool wait_for_room(const std::function<bool()>& stopping) {
    return limit_.wait_for_room(stopping);
  }
  /// Wakes wait_for_room() to look at `stopping` again.
  void interrupt() { limit_.interrupt(); }

  /// The drain: queued connections with nothing to read are shut down (their
  /// clients see the end at once); idle ones get SHUT_RD (their readers see
  /// end of input). Connections with bytes waiting are left to be served.
  void shutdown_idle();
  /// The close deadline: every connection is marked cut and shut down, so
  /// that blocked reads and writes fail now and no reader takes the cut for
  /// the client's end. Returns how many it cut.
  std::size_t cut_all();

 private:
  mutable std::mutex mutex_;
  ActiveConnection head_;
  Limit limit_;  // max_connections
};

/// What a reader of a cut connection throws (ECONNABORTED), where it would
/// otherwise see the end of input: a request cut short is never a request.
[[noreturn]] void throw_cut();

}  // namespace switchboard::detail
