#include "helpers.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace sbt {
namespace {

[[noreturn]] void fail_errno(const char* what) {
  throw std::system_error(errno, std::generic_category(), what);
}

void set_timeouts(int fd) {
  timeval tv{};
  tv.tv_sec = kLimit.count();
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ||
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0)
    fail_errno("setsockopt timeout");
}

}  // namespace

int open_fd_count() {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(d);
  return n - 1;  // the directory's own descriptor
}

void append_file(const std::string& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  [[maybe_unused]] auto n = ::write(fd, text.data(), text.size());
  ::close(fd);
}

std::string read_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return {};
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

Fd& Fd::operator=(Fd&& o) noexcept {
  if (this != &o) reset(std::exchange(o.fd_, -1));
  return *this;
}

void Fd::reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

// --- Client --------------------------------------------------------------------

Client Client::stream(const Address& to) {
  Client c;
  c.fd_.reset(::socket(to.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (c.fd() < 0) fail_errno("socket");
  set_timeouts(c.fd());
  while (::connect(c.fd(), to.data(), to.size()) < 0) {
    if (errno != EINTR) fail_errno("connect");
  }
  return c;
}

Client Client::datagram(const Address& to, const std::string& bind_path) {
  Client c;
  c.fd_.reset(::socket(to.family(), SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (c.fd() < 0) fail_errno("socket");
  set_timeouts(c.fd());
  if (!bind_path.empty()) {
    const Address self = Address::unix_path(bind_path);
    if (::bind(c.fd(), self.data(), self.size()) < 0) fail_errno("bind client");
  }
  if (::connect(c.fd(), to.data(), to.size()) < 0) fail_errno("connect");
  return c;
}

Client Client::to(const BaseServer& server, const TempDir& dir) {
  if (server.socket_type() == SOCK_STREAM) return stream(server.server_address());
  if (!server.server_address().is_unix()) return datagram(server.server_address());
  static std::atomic<int> serial{0};
  return datagram(server.server_address(), dir.file("client-" + std::to_string(++serial)));
}

void Client::send(std::string_view data) {
  do {
    const ssize_t n = ::send(fd(), data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("send");
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  } while (!data.empty());
}

std::string Client::recv(std::size_t max) {
  if (!pending_.empty()) {
    std::string out = pending_.substr(0, max);
    pending_.erase(0, out.size());
    return out;
  }
  std::string buf(max, '\0');
  for (;;) {
    const ssize_t n = ::recv(fd(), buf.data(), buf.size(), 0);
    if (n >= 0) {
      buf.resize(static_cast<std::size_t>(n));
      return buf;
    }
    if (errno != EINTR) fail_errno("recv");
  }
}

std::string Client::recv_line() {
  std::string out;
  for (;;) {
    std::string chunk = recv();
    if (chunk.empty()) return out;
    const auto nl = chunk.find('\n');
    if (nl != std::string::npos) {
      out.append(chunk, 0, nl + 1);
      pending_ = chunk.substr(nl + 1) + pending_;
      return out;
    }
    out += chunk;
  }
}

std::string Client::recv_exact(std::size_t n) {
  std::string out;
  while (out.size() < n) {
    std::string chunk = recv(n - out.size());
    if (chunk.empty()) break;
    out += chunk;
  }
  return out;
}

std::string Client::recv_all() {
  std::string out;
  for (;;) {
    std::string chunk = recv(1 << 20);
    if (chunk.empty()) return out;
    out += chunk;
  }
}

int Client::next_eof() {
  if (!pending_.empty()) return -1;
  char c;
  for (;;) {
    const ssize_t n = ::recv(fd(), &c, 1, 0);
    if (n == 0) return 0;
    if (n > 0) {
      pending_.push_back(c);
      return -1;
    }
    if (errno != EINTR) return errno;
  }
}

void Client::shutdown_write() {
  if (::shutdown(fd(), SHUT_WR) < 0) fail_errno("shutdown");
}

void Client::reset() {
  linger l{1, 0};
  if (::setsockopt(fd(), SOL_SOCKET, SO_LINGER, &l, sizeof l) < 0) fail_errno("SO_LINGER");
  fd_.reset();
}

// --- OwnChild ---------------------------------------------------------------------

OwnChild::OwnChild() {
  pid_ = ::fork();
  if (pid_ == 0) ::_exit(72);
  if (pid_ < 0) fail_errno("fork");
}

OwnChild::~OwnChild() {
  if (!reaped_) ::waitpid(pid_, nullptr, 0);
}

::testing::AssertionResult OwnChild::reap() {
  int status = 0;
  pid_t r;
  while ((r = ::waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
  }
  if (r != pid_)
    return ::testing::AssertionFailure()
           << "waitpid(" << pid_ << ") = " << r << ": " << std::strerror(errno)
           << " (someone else reaped the test's own child)";
  reaped_ = true;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 72)
    return ::testing::AssertionFailure() << "own child ended with status " << status;
  return ::testing::AssertionSuccess();
}

// --- Gate, Count -----------------------------------------------------------------

void Gate::open() {
  {
    std::lock_guard lock(m_);
    open_ = true;
  }
  cv_.notify_all();
}

bool Gate::wait(std::chrono::milliseconds limit) {
  std::unique_lock lock(m_);
  return cv_.wait_for(lock, limit, [this] { return open_; });
}

bool Gate::is_open() const {
  std::lock_guard lock(m_);
  return open_;
}

void Count::add(int n) {
  {
    std::lock_guard lock(m_);
    n_ += n;
  }
  cv_.notify_all();
}

int Count::get() const {
  std::lock_guard lock(m_);
  return n_;
}

bool Count::wait_for(int at_least, std::chrono::milliseconds limit) {
  std::unique_lock lock(m_);
  return cv_.wait_for(lock, limit, [&] { return n_ >= at_least; });
}

// --- ServeThread -------------------------------------------------------------------

ServeThread::ServeThread(BaseServer& server) : server_(&server) {
  auto promise = std::make_shared<std::promise<void>>();
  done_ = promise->get_future().share();
  thread_ = std::thread([s = server_, promise] {
    try {
      s->serve_forever();
      promise->set_value();
    } catch (...) {
      promise->set_exception(std::current_exception());
    }
  });
}

ServeThread::~ServeThread() {
  if (thread_.joinable()) {
    server_->shutdown();
    thread_.join();
  }
}

::testing::AssertionResult ServeThread::stop() {
  server_->shutdown();
  return join();
}

::testing::AssertionResult ServeThread::join() {
  if (done_.wait_for(kLimit) != std::future_status::ready)
    return ::testing::AssertionFailure() << "serve_forever() did not return";
  thread_.join();
  try {
    done_.get();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "serve_forever() threw: " << e.what();
  }
  return ::testing::AssertionSuccess();
}

std::string roundtrip(const BaseServer& server, const TempDir& dir, std::string_view line) {
  Client c = Client::to(server, dir);
  c.send(line);
  if (server.socket_type() == SOCK_DGRAM) return c.recv();
  return c.recv_line();
}

}  // namespace sbt
