// Where a server's socket comes from and how it goes: socketserver's
// server_bind() and server_activate(), or a socket it is given
// (adopt_socket(), which it borrows); the drain's stop of new connects, and
// the close that removes the Unix socket file this server made.

#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <string>
#include <system_error>

#include "accept.hpp"
#include "adopt.hpp"
#include "switchboard/server.hpp"

namespace switchboard {
namespace {

// Unix paths: a socket file nobody listens on is stale and replaced; a live one
// (or a file that is not a socket) is an error, as for a TCP port in use.
void prepare_unix_path(const Address& address, int type, bool replace_stale) {
  const std::string path = address.path();
  struct stat st {};
  if (path.empty() || ::lstat(path.c_str(), &st) != 0) return;
  if (!S_ISSOCK(st.st_mode))
    throw std::system_error(EADDRINUSE, std::generic_category(),
                            "bind " + path + ": the path exists and is not a socket");
  Socket probe = Socket::open(AF_UNIX, type);
  if (::connect(probe.fd(), address.data(), address.size()) == 0 || errno != ECONNREFUSED)
    throw std::system_error(EADDRINUSE, std::generic_category(),
                            "bind " + path + ": a server is listening there");
  if (!replace_stale)
    throw std::system_error(
        EADDRINUSE, std::generic_category(),
        "bind " + path + ": stale socket file (replace_stale_unix_path is off)");
  ::unlink(path.c_str());
}

// A TCP listener that drops every SYN and lets the rest through: no new
// handshake begins, while those under way still complete into the accept
// queue. The filter sees the TCP header at offset 0; byte 13 holds the flags.
void drop_new_connects(int fd) noexcept {
  sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
      BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x02, 0, 1),  // SYN
      BPF_STMT(BPF_RET | BPF_K, 0),
      BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
  };
  sock_fprog program{static_cast<unsigned short>(std::size(code)), code};
  ::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program);
}

}  // namespace

// server_bind(): options first, so they hold from the first connection.
void BaseServer::server_bind() {
  std::lock_guard lock(socket_mutex_);
  if (bound_)
    throw std::logic_error("server_bind(): " + address_.to_string() + " is bound already");
  if (address_.family() == AF_UNSPEC)
    throw std::logic_error("server_bind(): the server has no address (adopt_socket() gives one)");
  Socket& s = *socket_;
  if (address_.is_unix()) {
    prepare_unix_path(address_, socket_type_, options_.replace_stale_unix_path);
  } else {
    if (options_.reuse_address && socket_type_ == SOCK_STREAM)
      s.set_option(SOL_SOCKET, SO_REUSEADDR, 1);
    if (options_.reuse_port) s.set_option(SOL_SOCKET, SO_REUSEPORT, 1);
    if (address_.family() == AF_INET6 && options_.ipv6_only)
      s.set_option(IPPROTO_IPV6, IPV6_V6ONLY, *options_.ipv6_only ? 1 : 0);
  }
  if (::bind(s.fd(), address_.data(), address_.size()) < 0) {
    const int err = errno;
    throw std::system_error(err, std::generic_category(), "bind " + address_.to_string());
  }
  if (address_.is_unix()) {
    created_path_ = address_.path();
    struct stat st {};
    if (::stat(created_path_.c_str(), &st) == 0) created_file_ = {st.st_dev, st.st_ino};
  }
  address_ = s.local_address();
  if (address_.is_unix() && address_.path().empty()) address_ = Address::unix_path(created_path_);
  bound_ = true;
}

void BaseServer::server_activate() {
  std::lock_guard lock(socket_mutex_);
  if (!bound_) throw std::logic_error("server_activate() before server_bind()");
  if (socket_type_ == SOCK_STREAM && ::listen(socket_->fd(), options_.backlog) < 0) {
    const int err = errno;
    if (!created_path_.empty()) ::unlink(created_path_.c_str());  // just made: ours
    throw std::system_error(err, std::generic_category(), "listen " + address_.to_string());
  }
  activated_ = true;
}

void BaseServer::adopt_socket(Socket socket, bool borrow) {
  std::lock_guard lock(socket_mutex_);
  if (bound_)
    throw std::logic_error("adopt_socket(): the server has a socket already (bound to " +
                           address_.to_string() + ")");
  detail::check_adoptable(socket.fd(), socket_type_, address_.family());
  const int fd = socket.fd();
  // Our accept and receive loops run until EAGAIN.
  const int status = ::fcntl(fd, F_GETFL);
  if (status < 0 || ::fcntl(fd, F_SETFL, status | O_NONBLOCK) < 0) throw_errno("fcntl O_NONBLOCK");
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) throw_errno("fcntl FD_CLOEXEC");
  address_ = socket.local_address();
  *socket_ = std::move(socket);
  borrowed_ = borrow;
  bound_ = true;
  activated_ = true;
}

// The drain's stop of new connects, from any thread. A connection the kernel
// has already accepted for us is never reset (a proxy in front would count a
// failed request it does not retry): those in the backlog are taken now, to
// be served as queued connections are (serve_accepted()), and a silent one
// ends at once; only then are new connects refused. shutdown() alone would
// reset a TCP listener's backlog; a Unix listener shut for reading refuses
// new connects and keeps its queue. The listener itself closes on the
// serving thread, which may be polling it now.
//
// A borrowed listener is left as it is (no filter, no shutdown, its backlog
// untaken): the serving thread stops accepting and closes our descriptor,
// and what is queued waits for the socket's next owner, as systemd's rule
// for Accept=no sockets has it. So is the listener of a retired server.
void BaseServer::stop_accepting() noexcept {
  std::lock_guard lock(socket_mutex_);
  if (!*socket_ || socket_type_ != SOCK_STREAM || borrowed_ || retiring_) return;
  const int fd = socket_->fd();
  if (address_.is_unix()) {
    ::shutdown(fd, SHUT_RD);
  } else {
    drop_new_connects(fd);
  }
  for (;;) {
    Request request;
    const int err = detail::accept_connection(fd, address_.is_unix(), options_, request);
    if (err == EINTR || err == ECONNABORTED) continue;
    if (err != 0) break;
    int unread = 0;
    if (::ioctl(request.connection.fd(), FIONREAD, &unread) != 0 || unread == 0) continue;
    try {
      accepted_.push_back(std::move(request));
    } catch (...) {
    }
  }
  if (!address_.is_unix()) ::shutdown(fd, SHUT_RDWR);  // its queue is empty now
}

void BaseServer::close_listener() noexcept {
  std::lock_guard lock(socket_mutex_);
  if (socket_type_ == SOCK_STREAM) socket_->close();
}

void BaseServer::remove_unix_path() noexcept {
  // Only our own file: another server may have replaced it since.
  struct stat st {};
  if (!created_path_.empty() && ::lstat(created_path_.c_str(), &st) == 0 &&
      std::pair{st.st_dev, st.st_ino} == created_file_)
    ::unlink(created_path_.c_str());
  created_path_.clear();
}

}  // namespace switchboard
