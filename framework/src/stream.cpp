#include "switchboard/stream.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "connections.hpp"
#include "switchboard/socket.hpp"

namespace switchboard {

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

namespace {
constexpr std::size_t kChunk = 16 * 1024;  // a receive's room; lines longer grow the buffer
}

StreamReader::StreamReader(Socket* socket, StreamWriter* tie, std::size_t max_line,
                           detail::ActiveConnection* connection)
    : socket_(socket), tie_(tie), connection_(connection), buffer_(max_line, kChunk) {}

StreamReader::StreamReader(std::string_view data, std::size_t max_line)
    : buffer_(data, max_line), eof_(true) {}

bool StreamReader::fill() {
  if (eof_ || !socket_) return false;
  if (tie_) tie_->flush();
  const bool boundary = buffered() == 0;
  std::size_t room = 0;
  char* into = buffer_.room(kChunk, room);
  std::size_t n = 0;
  try {
    n = receive(into, room, boundary);
  } catch (const Parked&) {
    buffer_.release();  // at a boundary nothing is buffered: a parked connection holds no buffer
    throw;
  }
  buffer_.filled(n);
  if (n == 0) {
    eof_ = true;
    // Our close deadline ended the input, not the peer.
    if (connection_ && connection_->cut.load()) detail::throw_cut();
  }
  return n > 0;
}

// At a request boundary the policy decides how to wait (connections.hpp);
// inside a request, the reader waits on its thread.
std::size_t StreamReader::receive(char* into, std::size_t size, bool boundary) {
  if (boundary && connection_) {
    auto& c = *connection_;
    return c.boundary ? c.boundary->next_request(c, *socket_, into, size, deadline_)
                      : c.next_request(*socket_, into, size, deadline_);
  }
  if (deadline_ != std::chrono::steady_clock::time_point{}) socket_->wait_readable_until(deadline_);
  return socket_->recv_some(into, size);
}

std::string StreamReader::take(std::size_t n) {
  std::string out(buffer_.take(n));
  if (deadline_ != std::chrono::steady_clock::time_point{}) {
    deadline_ = {};
    if (connection_ && connection_->boundary) connection_->boundary->first_request_read();
  }
  return out;
}

std::string StreamReader::readline() {
  for (;;) {
    if (const std::size_t n = buffer_.next_line()) return take(n);
    if (!fill()) return take(buffered());  // end of input: the last line may lack its '\n'
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
