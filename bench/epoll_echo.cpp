// The reference: a minimal single-threaded epoll echo server, the yardstick the
// policy comparison measures switchboard against. Echoes bytes as they come
// (streams) or each datagram back to its sender. Same flags and "listening on"
// line as echo_server; SIGINT/SIGTERM end it with status 0.
//   epoll_echo --proto tcp|udp|unix|unix-dgram --host H --port P --path F

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "epoll_echo: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  std::string proto = "tcp", host = "127.0.0.1", path;
  int port = 9999;
  const std::string name =
      argc > 0 ? std::filesystem::path(argv[0]).filename().string() : std::string("epoll_echo");
  CLI::App app{"Reference single-threaded epoll echo server.", name};
  app.add_option("--proto", proto)->check(CLI::IsMember({"tcp", "udp", "unix", "unix-dgram"}));
  app.add_option("--host", host);
  app.add_option("--port", port)->check(CLI::Range(0, 65535));
  app.add_option("--path", path);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see --help)\n", name.c_str(), e.what());
    return 2;
  }

  const bool unix_socket = proto.rfind("unix", 0) == 0;
  const bool stream = proto == "tcp" || proto == "unix";
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (unix_socket) {
    auto* sun = reinterpret_cast<sockaddr_un*>(&addr);
    if (path.empty() || path.size() >= sizeof sun->sun_path) die("--path must name a socket file");
    sun->sun_family = AF_UNIX;
    std::memcpy(sun->sun_path, path.data(), path.size());
    len = sizeof *sun;
    ::unlink(path.c_str());
  } else if (host.find(':') != std::string::npos) {
    auto* sin6 = reinterpret_cast<sockaddr_in6*>(&addr);
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET6, host.c_str(), &sin6->sin6_addr) != 1) die("bad --host " + host);
    len = sizeof *sin6;
  } else {
    auto* sin = reinterpret_cast<sockaddr_in*>(&addr);
    sin->sin_family = AF_INET;
    sin->sin_port = htons(static_cast<uint16_t>(port));
    if (inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host.c_str(), &sin->sin_addr) != 1)
      die("bad --host " + host);
    len = sizeof *sin;
  }

  const int lfd = ::socket(addr.ss_family, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK, 0);
  int one = 1;
  if (!unix_socket) ::setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), len) < 0) die("bind");
  if (stream && ::listen(lfd, SOMAXCONN) < 0) die("listen");
  if (!unix_socket && stream) ::setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  socklen_t alen = sizeof addr;
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &alen);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  const int sfd = ::signalfd(-1, &mask, SFD_CLOEXEC);
  const int ep = ::epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{EPOLLIN, {}};
  ev.data.fd = lfd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  ev.data.fd = sfd;
  ::epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);

  if (unix_socket) {
    std::printf("listening on %s:%s\n", stream ? "unix" : "unix-dgram", path.c_str());
  } else {
    char text[INET6_ADDRSTRLEN];
    const bool v6 = addr.ss_family == AF_INET6;
    const void* a =
        v6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr)
           : static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&addr)->sin_addr);
    inet_ntop(addr.ss_family, a, text, sizeof text);
    const int p = ntohs(v6 ? reinterpret_cast<sockaddr_in6*>(&addr)->sin6_port
                           : reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
    std::printf(v6 ? "listening on %s://[%s]:%d\n" : "listening on %s://%s:%d\n",
                stream ? "tcp" : "udp", text, p);
  }
  std::fflush(stdout);

  std::vector<std::string> pending;  // by fd: bytes a slow reader has not taken yet
  static char buf[64 * 1024];
  epoll_event events[256];
  for (;;) {
    const int n = ::epoll_wait(ep, events, 256, -1);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == sfd) {
        if (unix_socket) ::unlink(path.c_str());
        return 0;
      }
      if (fd == lfd && stream) {
        for (int c; (c = ::accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
          epoll_event cev{EPOLLIN | EPOLLRDHUP, {}};
          cev.data.fd = c;
          ::epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
          if (static_cast<size_t>(c) >= pending.size())
            pending.resize(static_cast<size_t>(c) * 2 + 1);
        }
        continue;
      }
      if (fd == lfd) {  // datagrams: one recvfrom/sendto each, until the queue is empty
        for (;;) {
          sockaddr_storage from{};
          socklen_t flen = sizeof from;
          const ssize_t r =
              ::recvfrom(lfd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
          if (r < 0) break;
          ::sendto(lfd, buf, static_cast<size_t>(r), MSG_NOSIGNAL,
                   reinterpret_cast<sockaddr*>(&from), flen);
        }
        continue;
      }
      // A connection: echo what arrived; keep what the peer cannot take yet.
      bool closed = false;
      auto& out = pending[static_cast<size_t>(fd)];
      const bool was_waiting = !out.empty();
      if ((events[i].events & EPOLLOUT) && !out.empty()) {
        const ssize_t w = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
        if (w > 0) out.erase(0, static_cast<size_t>(w));
      }
      while (!closed && out.empty()) {
        const ssize_t r = ::recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EAGAIN) break;
        if (r <= 0) {
          closed = true;
          break;
        }
        const ssize_t w = ::send(fd, buf, static_cast<size_t>(r), MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) closed = true;
        if (!closed && w < r) out.assign(buf + std::max<ssize_t>(w, 0), buf + r);
      }
      if (closed) {
        out.clear();
        ::close(fd);
        continue;
      }
      if (was_waiting != out.empty()) continue;  // interest unchanged: no syscall
      const uint32_t out_bit = out.empty() ? 0u : static_cast<uint32_t>(EPOLLOUT);
      epoll_event cev{EPOLLIN | EPOLLRDHUP | out_bit, {}};
      cev.data.fd = fd;
      ::epoll_ctl(ep, EPOLL_CTL_MOD, fd, &cev);
    }
  }
}
