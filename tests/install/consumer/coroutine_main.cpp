// Uses an installed switchboard's coroutine handlers (switchboard::asio): one
// connection to a ReactorTCPServer, answered by handle_async(). Exit status 0: it worked.

#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <switchboard/coroutine.hpp>
#include <switchboard/switchboard.hpp>
#include <thread>

namespace {

class Greet : public switchboard::AsyncStreamRequestHandler {
 public:
  asio::awaitable<void> handle_async() override {
    co_await wfile.write("hello, " + co_await rfile.readline());
  }
};

}  // namespace

int main() {
  switchboard::ServerOptions options;
  options.loops = 1;
  switchboard::ReactorTCPServer server({"127.0.0.1", 0}, switchboard::handler<Greet>, options);
  std::thread serving([&] { server.serve_forever(); });

  const auto& address = server.server_address();
  const int fd = ::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  const timeval five_seconds{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &five_seconds, sizeof five_seconds);
  std::string reply;
  if (::connect(fd, address.data(), address.size()) == 0 &&
      ::send(fd, "coroutines\n", 11, MSG_NOSIGNAL) == 11) {
    ::shutdown(fd, SHUT_WR);
    char buffer[256];
    for (ssize_t n; (n = ::recv(fd, buffer, sizeof buffer, 0)) > 0;)
      reply.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);
  server.shutdown();
  serving.join();
  server.server_close();
  if (reply != "hello, coroutines\n") {
    std::fprintf(stderr, "%s: reply \"%s\"\n", server.url().c_str(), reply.c_str());
    return 1;
  }
  std::printf("ok: %s answered from a coroutine\n", server.url().c_str());
  return 0;
}
