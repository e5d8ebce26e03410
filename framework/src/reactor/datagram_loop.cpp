#include "datagram_loop.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <exception>

#include "../handler_run.hpp"
#include "../server_access.hpp"
#include "event_loop.hpp"
#include "reactor.hpp"
#include "switchboard/coroutine.hpp"
#include "switchboard/socket.hpp"

namespace switchboard::detail {

namespace {

constexpr std::size_t kBatch = 32;

int protocol_family(const BaseServer& server) { return server.server_address().family(); }

}  // namespace

DatagramLoop::DatagramLoop(Reactor& reactor, EventLoop& loop, const Socket& socket)
    : reactor_(reactor),
      loop_(loop),
      socket_(std::make_shared<Socket>(::fcntl(socket.fd(), F_DUPFD_CLOEXEC, 0))),
      max_(reactor.server().options().max_datagram),
      batch_(kBatch),
      // Untouched pages cost no memory: a slot of max_datagram holds what arrives.
      buffers_(std::make_unique_for_overwrite<char[]>(kBatch * max_)),
      in_(kBatch),
      in_iov_(kBatch),
      in_from_(kBatch),
      out_data_(kBatch),
      out_to_(kBatch) {
  if (!*socket_) throw_errno("dup");
  const int family = protocol_family(reactor.server());
  asio_ = std::make_unique<AsioSocket>(loop.io().get_executor());
  room_ = std::make_unique<asio::steady_timer>(loop.io());
  asio_->assign(asio::generic::datagram_protocol(family, family == AF_UNIX ? 0 : IPPROTO_UDP),
                socket_->fd());
  for (std::size_t i = 0; i < batch_; ++i) {
    in_iov_[i] = {buffers_.get() + i * max_, max_};
    in_[i].msg_hdr = {};
    in_[i].msg_hdr.msg_iov = &in_iov_[i];
    in_[i].msg_hdr.msg_iovlen = 1;
  }
}

DatagramLoop::~DatagramLoop() {
  if (asio_) {
    asio::error_code ignored;
    asio_->release(ignored);
  }
}

void DatagramLoop::start() {
  asio::post(loop_.io(), [this] {
    stopping_ = false;
    if (running_) return;
    running_ = true;
    asio::co_spawn(loop_.io(), receive(), asio::detached);
  });
}

void DatagramLoop::stop() {
  std::promise<void> seen;
  asio::post(loop_.io(), [this, &seen] {
    stopping_ = true;
    asio::error_code ignored;
    if (asio_) asio_->cancel(ignored);
    if (room_) room_->cancel();
    seen.set_value();
  });
  seen.get_future().wait();
}

void DatagramLoop::shut() {
  std::promise<void> seen;
  asio::post(loop_.io(), [this, &seen] {
    stopping_ = true;
    asio::error_code ignored;
    if (asio_) asio_->release(ignored);  // a pending receive completes, aborted, and sees stopping_
    asio_.reset();
    // Destroyed here, while the loop runs: a wait for room completes, aborted,
    // and sees stopping_.
    room_.reset();
    seen.set_value();
  });
  seen.get_future().wait();
}

void DatagramLoop::room_made() {
  asio::post(loop_.io(), [this] {
    if (room_) room_->cancel();
  });
}

void DatagramLoop::queue(const Address& to, std::string_view data) {
  if (to.size() <= sizeof(sa_family_t)) return;  // an unbound Unix client cannot be answered
  if (out_count_ == out_data_.size()) {
    out_data_.resize(out_count_ * 2);
    out_to_.resize(out_count_ * 2);
  }
  out_to_[out_count_] = to;
  out_data_[out_count_].assign(data);
  ++out_count_;
}

asio::awaitable<void> DatagramLoop::receive() {
  struct Running {
    bool& flag;
    ~Running() { flag = false; }
  } running{running_};
  BaseServer& server = reactor_.server();
  asio::generic::datagram_protocol::endpoint from;
  while (!stopping_) {
    // The first datagram through Asio: speculative, then epoll when there is none.
    asio::error_code ec;
    const std::size_t first =
        co_await asio_->async_receive_from(asio::buffer(buffers_.get(), max_), from, MSG_TRUNC,
                                           asio::redirect_error(asio::use_awaitable, ec));
    if (stopping_) break;
    if (ec) {
      if (ec != asio::error::operation_aborted && ec != asio::error::would_block)
        Counters::bump(ServerAccess::counters(server).accept_errors);
      continue;
    }
    // The rest of the burst in one call.
    for (std::size_t i = 1; i < batch_; ++i) {
      in_[i].msg_hdr.msg_name = &in_from_[i];
      in_[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
    }
    const int more = batch_ > 1
                         ? ::recvmmsg(socket_->fd(), &in_[1], static_cast<unsigned>(batch_ - 1),
                                      MSG_DONTWAIT | MSG_TRUNC, nullptr)
                         : 0;
    const std::size_t count = 1 + static_cast<std::size_t>(std::max(more, 0));
    for (std::size_t i = 0; i < count; ++i) {
      // One Request for the loop, reused: its packet keeps its allocation and
      // its reply socket needs no new reference (unless a worker took it).
      Request& request = request_;
      if (!request.reply_socket) request.reply_socket = socket_;
      std::size_t size = first;
      if (i == 0) {
        request.client_address = Address::from_sockaddr(from.data(), from.size());
      } else {
        size = in_[i].msg_len;
        request.client_address = Address::from_sockaddr(
            reinterpret_cast<const sockaddr*>(&in_from_[i]), in_[i].msg_hdr.msg_namelen);
      }
      if (size > max_) {  // MSG_TRUNC gave its real size: reported and dropped, never cut
        HandlerRun::dropped(server, request, size);
        continue;
      }
      Counters::bump(ServerAccess::counters(server).total_requests);
      request.packet.assign(buffers_.get() + i * max_, size);
      if (!ServerAccess::verify_request(server, request)) {
        Counters::bump(ServerAccess::counters(server).rejected);
        HandlerRun(server, request).close();
        continue;
      }
      std::unique_ptr<BaseRequestHandler> made;
      if (!is_coroutine(request, made)) {
        const bool room = co_await room_for_worker(request);
        if (room) reactor_.submit_whole(std::move(request), std::move(made));
        continue;
      }
      // A coroutine handler, awaited here: its reply joins the batch's.
      HandlerRun run(server, request, HandlerRun::Mode::awaited, std::move(made));
      run.start();
      if (run.awaiting()) {
        run.reply_to(this);
        try {
          co_await static_cast<AsyncDatagramRequestHandler&>(*run.handler()).handle_async();
        } catch (...) {
          run.fail(std::current_exception());
        }
      }
      run.end();  // finish() queues the reply
    }
    co_await send_replies();
  }
}

// Whether the datagram's handler is a coroutine, to be awaited here. A
// factory that hides the kind makes the handler here to ask it (`made`),
// which then serves wherever it runs.
bool DatagramLoop::is_coroutine(Request& request, std::unique_ptr<BaseRequestHandler>& made) {
  const HandlerFactory& factory = reactor_.server().handler_factory();
  if (factory.kind_known()) return factory.kind() == HandlerKind::coroutine;
  try {
    made = HandlerRun::make(reactor_.server(), request);
  } catch (...) {
    return true;  // the run makes it again, and reports the failure
  }
  return HandlerRun::kind_of(*made) == HandlerKind::coroutine;
}

// Blocking handlers take a place among the workers' (threads + max_queued),
// as the pool admits them. `refuse` refuses (refuse_request(), counted);
// `block` holds this loop's datagrams (its batch, then the kernel's buffer)
// until a handler ends and wakes it (room_made()); the loop serves its other
// work meanwhile. Stopping, what has no place is refused.
asio::awaitable<bool> DatagramLoop::room_for_worker(Request& request) {
  BaseServer& server = reactor_.server();
  Limit& places = reactor_.places();
  if (places.try_acquire()) co_return true;
  if (server.options().overload == Overload::block) {
    struct Wanted {  // counted as waiting, then a look again: no release is missed
      Limit& places;
      explicit Wanted(Limit& p) : places(p) { places.want_room(+1); }
      ~Wanted() { places.want_room(-1); }
    } wanted(places);
    while (!stopping_) {
      if (places.try_acquire()) co_return true;
      room_->expires_at(asio::steady_timer::time_point::max());
      asio::error_code ignored;  // cancelled: by room_made() (perhaps a stale one), or by stop()
      co_await room_->async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }
  ServerAccess::refuse(server, request);
  co_return false;
}

// One sendmmsg() for the batch's replies. A reply the kernel refuses is
// dropped (UDP promises no delivery); a full send buffer is waited for once.
asio::awaitable<void> DatagramLoop::send_replies() {
  std::vector<mmsghdr>& out = out_hdr_;
  std::vector<iovec>& iov = out_iov_;
  if (out.size() < out_count_) {
    out.resize(out_count_);
    iov.resize(out_count_);
  }
  for (std::size_t i = 0; i < out_count_; ++i) {
    iov[i] = {out_data_[i].data(), out_data_[i].size()};
    out[i].msg_hdr = {};
    out[i].msg_hdr.msg_name = const_cast<sockaddr*>(out_to_[i].data());
    out[i].msg_hdr.msg_namelen = out_to_[i].size();
    out[i].msg_hdr.msg_iov = &iov[i];
    out[i].msg_hdr.msg_iovlen = 1;
  }
  std::size_t sent = 0;
  bool waited = false;
  while (sent < out_count_) {
    const int n = ::sendmmsg(socket_->fd(), &out[sent], static_cast<unsigned>(out_count_ - sent),
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      waited = false;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !waited && !stopping_) {
      asio::error_code ec;
      co_await asio_->async_wait(AsioSocket::wait_write,
                                 asio::redirect_error(asio::use_awaitable, ec));
      waited = true;
      continue;
    }
    ++sent;  // this one cannot go: drop it, send the rest
    waited = false;
  }
  out_count_ = 0;
}

}  // namespace switchboard::detail
