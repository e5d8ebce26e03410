#pragma once
// Internal: a loop reading datagrams. It waits for the first of a batch
// through Asio, takes the rest with one recvmmsg(), serves each (a coroutine
// handler on the loop, a blocking one on a worker) and sends the replies of
// the batch with one sendmmsg(): the syscalls of a burst are paid once.

#include <sys/socket.h>

#include <asio/awaitable.hpp>
#include <asio/generic/datagram_protocol.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "reply_sink.hpp"
#include "switchboard/request.hpp"

namespace switchboard {
class BaseRequestHandler;
}

namespace switchboard::detail {

class EventLoop;
class Reactor;

class DatagramLoop final : public ReplySink {
 public:
  /// Reads a duplicate of `socket`'s descriptor, so that the server may close
  /// its own while this loop still sends replies.
  DatagramLoop(Reactor& reactor, EventLoop& loop, const Socket& socket);
  ~DatagramLoop();
  DatagramLoop(const DatagramLoop&) = delete;
  DatagramLoop& operator=(const DatagramLoop&) = delete;

  /// Starts reading. Thread safe.
  void start();
  /// Stops reading and returns once the loop has seen it; a handler in
  /// progress finishes later. Not from the loop.
  void stop();
  /// Stops reading for good and gives the descriptor back to its Socket
  /// (Asio forgets it). Not from the loop; the loop must still run.
  void shut();
  /// A reply of the batch being served. Loop thread.
  void queue(const Address& to, std::string_view data) override;
  /// A blocking handler ended: a loop waiting for a place looks again. Thread safe.
  void room_made();

 private:
  using AsioSocket = asio::basic_datagram_socket<asio::generic::datagram_protocol,
                                                 asio::io_context::executor_type>;
  asio::awaitable<void> receive();
  bool is_coroutine(Request& request, std::unique_ptr<BaseRequestHandler>& made);
  asio::awaitable<bool> room_for_worker(Request& request);
  asio::awaitable<void> send_replies();

  Reactor& reactor_;
  EventLoop& loop_;
  std::shared_ptr<Socket> socket_;  // the duplicate: reply socket of the requests served here
  std::unique_ptr<AsioSocket> asio_;
  std::unique_ptr<asio::steady_timer> room_;  // never expires: waited on for room, cancelled
  const std::size_t max_;                     // max_datagram
  std::size_t batch_;
  std::unique_ptr<char[]> buffers_;  // batch_ slots of max_ + 1 bytes
  std::vector<mmsghdr> in_;
  std::vector<iovec> in_iov_;
  std::vector<sockaddr_storage> in_from_;
  std::vector<std::string> out_data_;
  std::vector<Address> out_to_;
  std::size_t out_count_ = 0;
  std::vector<mmsghdr> out_hdr_;
  std::vector<iovec> out_iov_;
  Request request_;        // the datagram being served here (loop thread)
  bool running_ = false;   // loop thread
  bool stopping_ = false;  // loop thread
};

}  // namespace switchboard::detail
