// Uses an installed switchboard: TCP requests served by handle_request(), sent
// by a client thread in this process, with a handler of its own and (when the
// package exports switchboard::handlers) a library one; systemd's notify()
// links. Exit status 0: it worked.

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <switchboard/switchboard.hpp>
#include <switchboard/systemd.hpp>
#include <thread>
#ifdef CONSUMER_HAS_HANDLERS
#include <switchboard/handlers/handlers.hpp>
#endif

namespace {

class Greet : public switchboard::StreamRequestHandler {
 public:
  void handle() override { wfile.write("hello, " + rfile.readline()); }
};

// Connects to `address`, sends `line`, half-closes, returns what comes back until EOF.
std::string ask(const switchboard::Address& address, const std::string& line) {
  const int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "socket() failed";
  const timeval five_seconds{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
  std::string reply;
  if (::connect(fd, address.data(), address.size()) != 0) {
    reply = "connect() failed";
  } else if (::send(fd, line.data(), line.size(), MSG_NOSIGNAL) !=
             static_cast<ssize_t>(line.size())) {
    reply = "send() failed";
  } else {
    ::shutdown(fd, SHUT_WR);
    char buffer[256];
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;)
      reply.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return reply;
}

// Serves one request with `factory`; true if `line` is answered with `expected`.
bool serve_one(const switchboard::HandlerFactory& factory, const std::string& line,
               const std::string& expected) {
  switchboard::ServerOptions options;
  options.request_timeout = switchboard::Seconds{10};  // never hang the test
  options.timeout = switchboard::Seconds{10};
  switchboard::TCPServer server({"127.0.0.1", 0}, factory, options);

  std::string reply;
  std::thread client([&] { reply = ask(server.server_address(), line); });
  server.handle_request();
  client.join();
  server.server_close();

  const auto served = server.stats().total_requests;
  if (reply != expected || served != 1) {
    std::fprintf(stderr, "%s: reply \"%s\", %llu requests served\n", server.url().c_str(),
                 reply.c_str(), static_cast<unsigned long long>(served));
    return false;
  }
  std::printf("ok: %s answered \"%s\"\n", server.url().c_str(),
              expected.substr(0, expected.size() - 1).c_str());
  return true;
}

}  // namespace

int main() {
  bool ok = serve_one(switchboard::handler<Greet>, "switchboard\n", "hello, switchboard\n");
#ifdef CONSUMER_HAS_HANDLERS
  using switchboard::handlers::EchoStreamHandler;
  if (!serve_one(switchboard::handler<EchoStreamHandler>, "echo\n", "echo\n")) ok = false;
#endif
  // libsystemd comes with the package (-lsystemd for a static library);
  // without NOTIFY_SOCKET this sends nothing.
  switchboard::systemd::notify("STATUS=consumer ran");
  return ok ? 0 : 1;
}
