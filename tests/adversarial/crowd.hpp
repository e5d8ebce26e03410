#pragma once
// Many stream clients at once, driven by one poll() loop: non-blocking
// connects, scripted sends (with an optional half-close once all is sent),
// everything received kept with the time it came and how the stream ended.
// Every wait is bounded; a peer still open at a deadline is the caller's to
// judge (usually: a hang, a failure).

#include <chrono>
#include <cstddef>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "support/deadline.hpp"
#include "support/fd.hpp"
#include "support/server_process.hpp"

namespace switchboard::test {

using Clock = std::chrono::steady_clock;

/// How a peer's stream ended, as far as it knows.
enum class Ending {
  open,            ///< not yet
  eof,             ///< the server closed (a FIN)
  reset,           ///< ECONNRESET (or another receive error)
  connect_failed,  ///< the connect itself failed (ECONNREFUSED, EAGAIN for a full Unix backlog)
  closed,          ///< the test closed it (close() or abort())
};
const char* to_string(Ending ending);
/// For GoogleTest's messages: the name, not the bytes.
inline void PrintTo(Ending ending, std::ostream* os) { *os << to_string(ending); }

struct Peer {
  UniqueFd fd;
  bool connected = false;
  int error = 0;         ///< errno of a failed connect or receive
  std::string outbox;    ///< what to send
  std::size_t sent = 0;  ///< bytes of outbox sent so far
  bool close_write_when_sent = false;
  bool write_closed = false;
  int send_error = 0;  ///< errno of a failed send (EPIPE, ECONNRESET): the server left first
  std::string received;
  Ending ending = Ending::open;
  Clock::time_point started, connected_at, first_byte_at, ended_at;

  bool ended() const { return ending != Ending::open; }
  bool all_sent() const { return sent == outbox.size(); }
};

class Crowd {
 public:
  /// Clients of the stream server that printed `server` ("tcp" or "unix").
  explicit Crowd(Listening server);

  /// Starts `n` non-blocking connects; returns the index of the first new peer.
  std::size_t connect(std::size_t n);
  /// Drives I/O until no connect is pending; false at the deadline.
  bool wait_connected(Duration timeout = kTimeout);
  /// Queues `data` for peer `i`; with `then_close_write`, shuts its writing
  /// side down once all of it is sent.
  void send(std::size_t i, std::string_view data, bool then_close_write = false);
  /// Drives I/O until `done()` is true; false at the deadline.
  bool drive_until(const std::function<bool()>& done, Duration timeout = kTimeout);
  /// Drives I/O until every peer has ended; false at the deadline.
  bool wait_all_ended(Duration timeout = kTimeout);
  /// Drives I/O for `duration` (a window in which nothing should happen), then returns.
  void drive_for(Duration duration);

  /// Closes peer `i` with SO_LINGER 0: the server sees a reset, nothing lingers.
  void abort(std::size_t i);
  /// Closes peer `i` normally (a FIN).
  void close(std::size_t i);

  Peer& operator[](std::size_t i) { return peers_[i]; }
  const Peer& operator[](std::size_t i) const { return peers_[i]; }
  std::size_t size() const { return peers_.size(); }
  /// Peers for which `pred` holds.
  std::size_t count(const std::function<bool(const Peer&)>& pred) const;
  std::size_t count(Ending ending) const;
  /// "3 open, 997 eof" and the like, for failure messages.
  std::string summary() const;

 private:
  void step(int timeout_ms);  // one poll() and the I/O it allows
  void on_writable(Peer& p);
  void on_readable(Peer& p);
  void end(Peer& p, Ending ending, int error = 0);

  Listening server_;
  std::vector<Peer> peers_;
};

}  // namespace switchboard::test
