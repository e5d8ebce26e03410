#include "switchboard/stream.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "connections.hpp"
#include "switchboard/socket.hpp"

namespace switchboard {

namespace {

// Whether `fd` becomes readable within `ns` nanoseconds.
bool readable_within(int fd, long ns) {
  const timespec limit{ns / 1'000'000'000, ns % 1'000'000'000};
  pollfd p{fd, POLLIN, 0};
  return ::ppoll(&p, 1, &limit, nullptr) > 0;
}

}  // namespace

LineTooLong::LineTooLong(std::size_t limit)
    : std::runtime_error("line longer than " + std::to_string(limit) + " bytes"), limit_(limit) {}

// --- StreamWriter --------------------------------------------------------------

StreamWriter::StreamWriter(Socket* socket, std::size_t buffer_size)
    : socket_(socket), buffer_size_(buffer_size) {}

void StreamWriter::write(std::string_view data) {
  written_ = true;
  if (!socket_) {
    buffer_.append(data);
    return;
  }
  if (buffer_.size() + data.size() <= buffer_size_) {
    buffer_.append(data);
    return;
  }
  flush();
  if (data.size() >= buffer_size_) {
    socket_->send_all(data);  // large writes go straight out, uncopied
  } else {
    buffer_.append(data);
  }
}

void StreamWriter::flush() {
  if (!socket_ || buffer_.empty()) return;
  // Emptied first: after a failed send the connection is done for, and the
  // flush in finish() must not send the same bytes again.
  std::string pending = std::exchange(buffer_, {});
  socket_->send_all(pending);
  pending.clear();
  buffer_ = std::move(pending);  // keep the allocation
}

// --- StreamReader --------------------------------------------------------------

StreamReader::StreamReader(Socket* socket, StreamWriter* tie, std::size_t max_line,
                           detail::ActiveConnection* activity)
    : socket_(socket), tie_(tie), activity_(activity), max_line_(max_line) {}

StreamReader::StreamReader(std::string_view data, std::size_t max_line)
    : buffer_(data), end_(data.size()), max_line_(max_line), eof_(true) {}

bool StreamReader::fill() {
  if (eof_ || !socket_) return false;
  if (tie_) tie_->flush();
  const bool boundary = buffered() == 0;
  if (start_ == end_) {
    start_ = end_ = 0;
  } else if (start_ > end_ / 2) {
    std::memmove(buffer_.data(), buffer_.data() + start_, end_ - start_);
    end_ -= start_;
    start_ = 0;
  }
  constexpr std::size_t chunk = 16 * 1024;
  const std::size_t old = end_;
  if (buffer_.size() < old + chunk) buffer_.resize(old + chunk);
  std::size_t n = 0;
  try {
    n = receive(buffer_.data() + old, chunk, boundary);
  } catch (const Parked&) {
    // At a boundary nothing is buffered: a parked connection holds no buffer.
    buffer_ = std::string();
    start_ = end_ = 0;
    throw;
  }
  end_ = old + n;
  if (n == 0) {
    eof_ = true;
    // Our drain ended the input, not the peer: a partial request is not a request.
    if (activity_ && activity_->cut.load()) end_ = start_;
  }
  return n > 0;
}

// At a request boundary the connection is idle: once the server drains, an
// idle connection is finished, unless the kernel already holds its next bytes.
// Marked idle, the reader takes no byte before it claims the connection back
// (the drain ends one only by winning that claim): bytes taken while marked
// idle could be the start of a request the drain then cuts short.
//
// A restartable handler under the reactor parks there instead of waiting: the
// Parked exception unwinds handle() and the event loop waits for the bytes.
std::size_t StreamReader::receive(char* into, std::size_t size, bool boundary) {
  if (deadline_ != std::chrono::steady_clock::time_point{}) {
    // A parking reader does not wait here: the reactor's sweep keeps the deadline.
    if (!(activity_ && boundary && activity_->parkable)) {
      wait_for_first_request();
    } else if (std::chrono::steady_clock::now() >= deadline_) {
      throw_errno(ETIMEDOUT, "no complete request before the first-request deadline");
    }
  }
  if (!activity_ || !boundary) return socket_->recv_some(into, size);
  if (activity_->expired.load()) throw_errno(ETIMEDOUT, "read timed out");
  if (activity_->cut.load()) return 0;  // the drain ended it while parked
  // A forked child learns of the drain from a descriptor: waiting on both, it
  // ends only if nothing of a next request has arrived, and takes nothing before.
  if (activity_->drain_fd >= 0) {
    if (!socket_->wait_readable_or(activity_->drain_fd)) return 0;
    return socket_->recv_some(into, size);
  }
  if (activity_->parkable) return receive_or_park(into, size);
  activity_->idle.store(true);  // seq_cst, paired with the drain's store then scan
  struct Busy {
    detail::ActiveConnection* a;
    ~Busy() { a->idle.store(false, std::memory_order_relaxed); }
  } busy{activity_};
  if (activity_->draining->load()) {
    if (!activity_->idle.exchange(false)) return 0;  // the drain claimed it first
    const long n = socket_->recv_nowait(into, size);
    return n < 0 ? 0 : static_cast<std::size_t>(n);
  }
  const bool bytes = socket_->wait_readable();
  if (!activity_->idle.exchange(false)) return 0;
  return bytes ? socket_->recv_some(into, size) : 0;
}

// Not marked idle: what it takes here is a request, and the reactor's loop
// marks a parked connection idle itself.
std::size_t StreamReader::receive_or_park(char* into, std::size_t size) {
  long n = socket_->recv_nowait(into, size);
  if (n >= 0) return static_cast<std::size_t>(n);
  if (activity_->draining->load()) {
    // Finished unless bytes came between the look above and the drain: a request.
    n = socket_->recv_nowait(into, size);
    return n < 0 ? 0 : static_cast<std::size_t>(n);
  }
  // Parking costs an unwind (~50k instructions) and two hand-offs; while no
  // other connection waits for a worker, the next request may come first.
  if (activity_->linger_ns > 0 && activity_->waiting_jobs && activity_->waiting_jobs->load() == 0 &&
      readable_within(socket_->fd(), activity_->linger_ns))
    n = socket_->recv_nowait(into, size);
  if (n < 0) throw Parked{};
  return static_cast<std::size_t>(n);
}

void StreamReader::wait_for_first_request() {
  using namespace std::chrono;
  for (;;) {
    const auto left = duration_cast<milliseconds>(deadline_ - steady_clock::now()).count();
    if (left <= 0) throw_errno(ETIMEDOUT, "no complete request before the first-request deadline");
    pollfd p{socket_->fd(), POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 60'000)));
    if (n > 0) return;
    if (n < 0 && errno != EINTR) throw_errno("poll");
  }
}

std::string StreamReader::take(std::size_t n) {
  std::string out(buffer_, start_, n);
  start_ += n;
  if (deadline_ != std::chrono::steady_clock::time_point{}) {
    deadline_ = {};
    if (activity_) activity_->first_request_read.store(true);
  }
  return out;
}

std::string StreamReader::readline() {
  std::size_t scanned = start_;
  for (;;) {
    const char* begin = buffer_.data() + scanned;
    const auto* nl = static_cast<const char*>(std::memchr(begin, '\n', end_ - scanned));
    if (nl) {
      const std::size_t end = static_cast<std::size_t>(nl - buffer_.data()) + 1;
      if (max_line_ && end - start_ > max_line_) throw LineTooLong(max_line_);
      return take(end - start_);
    }
    // Only past the limit: a last line of exactly max_line bytes, with no '\n', is allowed.
    if (max_line_ && end_ - start_ > max_line_) throw LineTooLong(max_line_);
    scanned = end_;
    const std::size_t offset = scanned - start_;
    if (!fill()) return take(buffered());  // end of input: the last line may lack its '\n'
    scanned = start_ + offset;             // fill() may have moved the data to the front
  }
}

std::string StreamReader::read(std::size_t n) {
  while (buffered() < n && fill()) {
  }
  return take(std::min(n, buffered()));
}

std::string StreamReader::read_some(std::size_t max) {
  if (buffered() == 0) fill();
  return take(std::min(max, buffered()));
}

}  // namespace switchboard
