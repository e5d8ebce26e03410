#include "async_connection.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <system_error>
#include <utility>

#include "switchboard/socket.hpp"
#include "switchboard/stream.hpp"

namespace switchboard::detail {

namespace {

// An idle connection holds this much; busy ones grow to what their reads fill.
constexpr std::size_t kFirstBuffer = 1024;
constexpr std::size_t kLargestRead = 64 * 1024;
constexpr std::size_t kDirectWrite = 8 * 1024;

[[noreturn]] void throw_asio(const asio::error_code& ec, const char* what) {
  // Errno values in the generic category, as Socket's errors are: the
  // server tells a vanished peer from a handler's error by them.
  throw std::system_error(ec.value(), std::generic_category(), what);
}

int protocol_of(int fd) {
  sockaddr_storage local{};
  socklen_t len = sizeof local;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) < 0) throw_errno("getsockname");
  return local.ss_family;
}

}  // namespace

AsyncConnection::AsyncConnection(asio::io_context& io, Sweeper& sweeper, int fd, int family,
                                 const ServerOptions& options, ActiveConnection* node)
    : socket_(io.get_executor()),
      sweeper_(sweeper),
      node_(node),
      timeout_(options.timeout),
      write_timeout_(options.write_timeout),
      write_limit_(options.write_buffer),
      buffer_(options.max_line, kFirstBuffer) {
  if (family == AF_UNSPEC) family = protocol_of(fd);
  socket_.assign(asio::generic::stream_protocol(family, family == AF_UNIX ? 0 : IPPROTO_TCP), fd);
  sweeper_.add(*this);
}

AsyncConnection::~AsyncConnection() {
  sweeper_.remove(*this);
  asio::error_code ignored;
  socket_.release(ignored);
}

void AsyncConnection::on_sweep() {
  if (reading_ && timeout_.count() > 0 && sweeper_.expired(read_since_, timeout_)) {
    read_expired_ = true;
    asio::error_code ignored;
    socket_.cancel(ignored);
  }
  if (reading_ && first_deadline_ != std::chrono::steady_clock::time_point{} &&
      sweeper_.time() >= first_deadline_) {
    first_expired_ = true;
    asio::error_code ignored;
    socket_.cancel(ignored);
  }
  if (writing_ && write_timeout_.count() > 0 && sweeper_.expired(write_since_, write_timeout_)) {
    write_expired_ = true;
    asio::error_code ignored;
    socket_.cancel(ignored);
  }
}

// The server drains: a wait for a next request ends now. Cancelling is safe
// on this thread: a read still waiting has taken nothing, and one that has
// taken bytes completes with them (end_receive() serves them).
void AsyncConnection::on_drain() {
  if (!at_boundary_) return;  // set with reading_, cleared with it in end_receive()
  drain_cancelled_ = true;
  asio::error_code ignored;
  socket_.cancel(ignored);
}

// --- reading -----------------------------------------------------------------

std::string AsyncConnection::take(std::size_t n) { return std::string(take_view(n)); }

std::string_view AsyncConnection::take_view(std::size_t n) {
  first_deadline_ = {};  // a request was read
  return buffer_.take(n);
}

// A receive in three steps, so that readline() awaits Asio directly (one
// coroutine frame fewer per request). begin_receive() flushes wfile (directly
// when the kernel takes it all), makes room and takes what is there: 1
// (bytes), 0 (the end); -1 means await, then end_receive() takes the result
// (and may ask to await again).
//
// At a request boundary, once the server drains, the connection is finished
// unless bytes of a next request are there. On the reactor's loops the drain
// comes to this thread (on_drain()), so the read awaits bytes as any other.
// Elsewhere the drain comes from another thread: the connection is idle while
// it awaits, it awaits readiness, not bytes, and takes none before it claims
// the connection back, as the drain ends an idle one only by winning that
// claim (bytes taken before could be a request the drain cuts short).
int AsyncConnection::begin_receive(Receive& r) {
  if (eof_) return 0;
  const bool boundary = buffered() == 0;
  r.into = buffer_.room(kLargestRead, r.room);
  r.wait = boundary && node_ && !loop_drains_;
  if (r.wait) return receive_now(r);
  if (boundary && loop_drains_) {
    if (node_->draining->load()) return last_look(r);
    at_boundary_ = true;
  }
  start_wait(reading_, read_since_);
  return -1;
}

// What the kernel holds, without waiting: busy while it takes it; idle (and
// -1) when nothing is there; the end (0) then if the server drains, once it
// has claimed the connection back and found that nothing came since: bytes
// that arrived between the first look and the drain are a request.
int AsyncConnection::receive_now(const Receive& r) {
  const ssize_t n = take_ready(r);
  if (n > 0) return 1;
  if (n < 0) {
    node_->idle.store(true);  // seq_cst, paired with the drain's store then scan
    if (!node_->draining || !node_->draining->load()) {
      start_wait(reading_, read_since_);
      return -1;
    }
    if (node_->idle.exchange(false)) return last_look(r);
    // Else the drain claimed it, finding nothing unread.
  }
  eof_ = true;  // the peer's end, or drained
  return 0;
}

// Draining, at a request boundary: what is there now is a request (its bytes
// came as the drain began), and nothing there means the end.
int AsyncConnection::last_look(const Receive& r) {
  if (take_ready(r) > 0) return 1;
  eof_ = true;
  return 0;
}

// Takes what the kernel holds into the buffer, without waiting: the bytes
// taken, 0 at the peer's end, -1 when there is nothing yet.
ssize_t AsyncConnection::take_ready(const Receive& r) {
  const ssize_t n = ::recv(socket_.native_handle(), r.into, r.room, MSG_DONTWAIT);
  if (n > 0) buffer_.filled(static_cast<std::size_t>(n));
  if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) throw_errno("recv");
  return n;
}

int AsyncConnection::end_receive(const Receive& r, const asio::error_code& ec, std::size_t n) {
  reading_ = false;
  at_boundary_ = false;
  const bool drained = std::exchange(drain_cancelled_, false);
  const bool claimed = !r.wait || node_->idle.exchange(false);
  if (read_expired_) throw_errno(ETIMEDOUT, "read timed out");
  if (first_expired_)
    throw_errno(ETIMEDOUT, "no complete request before the first-request deadline");
  if (drained && ec == asio::error::operation_aborted) return last_look(r);
  if (!claimed) {  // the drain ended it first, and nothing of a request was taken
    eof_ = true;
    return 0;
  }
  if (r.wait) {
    if (ec) throw_asio(ec, "wait");
    return receive_now(r);
  }
  if (ec == asio::error::eof) {
    eof_ = true;
    if (node_ && node_->cut.load()) throw_cut();  // our close deadline, not the peer's end
    return 0;
  }
  if (ec) throw_asio(ec, "recv");
  buffer_.filled(n);
  return 1;
}

// One receive into the buffer, written out in place in each reader below (a
// coroutine frame fewer per request): what wfile holds goes out first, then
// what begin_receive() asked for is awaited (readiness at a boundary with a
// drain to answer, else bytes); `got` is 1 (bytes), 0 (the end). After a
// reply leaves, its answer cannot be there yet: on a reactor loop the other
// connections are served first, and the read comes after them (as Asio by
// hand, whose write completes through the loop), which spares a read that
// would find nothing.
#define SWITCHBOARD_RECEIVE(got)                                                           \
  if (unsent()) {                                                                          \
    if (!flush_now()) co_await flush();                                                    \
    if (loop_drains_) co_await asio::post(socket_.get_executor(), asio::use_awaitable);    \
  }                                                                                        \
  Receive r;                                                                               \
  int got = begin_receive(r);                                                              \
  while (got < 0) {                                                                        \
    asio::error_code ec;                                                                   \
    std::size_t n = 0;                                                                     \
    if (r.wait)                                                                            \
      co_await socket_.async_wait(asio::socket_base::wait_read,                            \
                                  asio::redirect_error(asio::use_awaitable, ec));          \
    else                                                                                   \
      n = co_await socket_.async_read_some(asio::buffer(r.into, r.room),                   \
                                           asio::redirect_error(asio::use_awaitable, ec)); \
    got = end_receive(r, ec, n);                                                           \
  }

// One receive into the buffer; false at end of input.
asio::awaitable<bool> AsyncConnection::fill() {
  SWITCHBOARD_RECEIVE(got)
  co_return got == 1;
}

// readline() and readline_view(), which differ only in what they return.
template <class Line>
asio::awaitable<Line> AsyncConnection::next_line() {
  for (;;) {
    if (const std::size_t n = buffer_.next_line()) co_return Line(take_view(n));
    SWITCHBOARD_RECEIVE(got)
    if (got == 0) co_return Line(take_view(buffered()));  // the last line may lack its '\n'
  }
}

asio::awaitable<std::string> AsyncConnection::readline() { return next_line<std::string>(); }
asio::awaitable<std::string_view> AsyncConnection::readline_view() {
  return next_line<std::string_view>();
}

asio::awaitable<std::string> AsyncConnection::read(std::size_t n) {
  // Not `while (... && co_await fill())`: GCC 12 miscompiles a co_await in a
  // loop condition (the resumed coroutine hits ud2).
  while (buffered() < n) {
    const bool more = co_await fill();
    if (!more) break;
  }
  co_return take(std::min(n, buffered()));
}

asio::awaitable<std::string> AsyncConnection::read_some(std::size_t max) {
  co_return std::string(co_await read_some_view(max));
}

asio::awaitable<std::string_view> AsyncConnection::read_some_view(std::size_t max) {
  if (buffered() == 0) {
    SWITCHBOARD_RECEIVE(got)
  }
  co_return take_view(std::min(max, buffered()));
}

#undef SWITCHBOARD_RECEIVE

// --- writing -----------------------------------------------------------------

asio::awaitable<void> AsyncConnection::write(std::string_view data) {
  // A large write with nothing buffered goes straight out: copying it costs
  // about what the send does.
  if (unsent() == 0 && data.size() >= kDirectWrite) {
    co_await send_all(data.data(), data.size());
    co_return;
  }
  if (unsent() + data.size() <= write_limit_) {
    wbuf_.append(data);
    co_return;
  }
  co_await flush();
  if (data.size() >= write_limit_) {
    co_await send_all(data.data(), data.size());  // large writes go straight out, uncopied
  } else {
    wbuf_.append(data);
  }
}

// Sends what is buffered without waiting; true when all of it went.
bool AsyncConnection::flush_now() {
  while (wsent_ < wbuf_.size()) {
    const ssize_t n = ::send(socket_.native_handle(), wbuf_.data() + wsent_, wbuf_.size() - wsent_,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      wsent_ += static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return false;
    const int err = errno;
    clear_unsent();  // the connection is done for: the bytes must not go twice
    throw_errno(err, "send");
  }
  clear_unsent();
  return true;
}

asio::awaitable<void> AsyncConnection::flush() {
  if (flush_now()) co_return;
  // Emptied whatever happens: after a failed send the connection is done for,
  // and a later flush must not send the same bytes again.
  struct Clear {
    AsyncConnection& c;
    ~Clear() { c.clear_unsent(); }
  } clear{*this};
  co_await send_all(wbuf_.data() + wsent_, wbuf_.size() - wsent_);
}

// Sends directly while the kernel takes it (no suspension on the hot path);
// waits for room, up to the write timeout, when it does not.
asio::awaitable<void> AsyncConnection::send_all(const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(socket_.native_handle(), data, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0) {
      data += n;
      size -= static_cast<std::size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) throw_errno("send");
    asio::error_code ec;
    start_wait(writing_, write_since_);
    co_await socket_.async_wait(Socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
    writing_ = false;
    if (write_expired_) throw_errno(ETIMEDOUT, "write timed out");
    if (ec) throw_asio(ec, "send");
  }
}

}  // namespace switchboard::detail
