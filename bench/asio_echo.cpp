// The second reference: an echo server written the way Asio's own examples are
// (async_tcp_echo_server, async_udp_echo_server) on one thread and one
// io_context, the yardstick for what the reactor costs over Asio by hand.
// Same flags and "listening on" line as epoll_echo; SIGINT/SIGTERM end it with
// status 0.
//   asio_echo --proto tcp|udp|unix|unix-dgram --host H --port P --path F

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <asio.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>

namespace {

// As large as epoll_echo's, so that big requests cost both the same reads.
using Buffer = std::array<char, 64 * 1024>;

// A connection: read what is there, write it all back, read again. The
// pending handler owns the session; the last one to end frees it.
template <class Protocol>
class Session : public std::enable_shared_from_this<Session<Protocol>> {
 public:
  explicit Session(typename Protocol::socket socket) : socket_(std::move(socket)) {}

  void read() {
    socket_.async_read_some(asio::buffer(data_),
                            [self = this->shared_from_this()](std::error_code ec, std::size_t n) {
                              if (!ec) self->write(n);
                            });
  }

 private:
  void write(std::size_t n) {
    asio::async_write(socket_, asio::buffer(data_, n),
                      [self = this->shared_from_this()](std::error_code ec, std::size_t) {
                        if (!ec) self->read();
                      });
  }

  typename Protocol::socket socket_;
  Buffer data_;
};

template <class Protocol>
class StreamServer {
 public:
  StreamServer(asio::io_context& io, const typename Protocol::endpoint& endpoint)
      : acceptor_(io, endpoint) {
    accept();
  }
  typename Protocol::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void accept() {
    acceptor_.async_accept([this](std::error_code ec, typename Protocol::socket socket) {
      if (!ec) {
        if constexpr (std::is_same_v<Protocol, asio::ip::tcp>)
          socket.set_option(asio::ip::tcp::no_delay(true), ec);  // as the other servers do
        std::make_shared<Session<Protocol>>(std::move(socket))->read();
      }
      accept();
    });
  }

  typename Protocol::acceptor acceptor_;
};

// Datagrams: each one goes back to its sender before the next is received.
template <class Protocol>
class DatagramServer {
 public:
  DatagramServer(asio::io_context& io, const typename Protocol::endpoint& endpoint)
      : socket_(io, endpoint) {
    receive();
  }
  typename Protocol::endpoint local_endpoint() const { return socket_.local_endpoint(); }

 private:
  void receive() {
    socket_.async_receive_from(asio::buffer(data_), sender_,
                               [this](std::error_code ec, std::size_t n) {
                                 if (ec) return receive();
                                 send(n);
                               });
  }
  void send(std::size_t n) {
    socket_.async_send_to(asio::buffer(data_, n), sender_,
                          [this](std::error_code, std::size_t) { receive(); });
  }

  typename Protocol::socket socket_;
  typename Protocol::endpoint sender_;
  Buffer data_;
};

// Binds, prints the ready line and serves until SIGINT or SIGTERM.
template <class Protocol, template <class> class Server>
void serve(const typename Protocol::endpoint& endpoint, std::string url) {
  asio::io_context io(1);  // one thread runs it
  asio::signal_set stop(io, SIGINT, SIGTERM);
  stop.async_wait([&io](std::error_code, int) { io.stop(); });
  Server<Protocol> server(io, endpoint);
  if constexpr (requires { endpoint.address(); }) {  // IP: the port bound, for --port 0
    const auto bound = server.local_endpoint();
    const auto host = bound.address().to_string();
    url += (bound.address().is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(bound.port());
  }
  std::printf("listening on %s\n", url.c_str());
  std::fflush(stdout);
  io.run();
}

}  // namespace

int main(int argc, char** argv) {
  std::string proto = "tcp", host = "127.0.0.1", path;
  int port = 9999;
  const std::string name =
      argc > 0 ? std::filesystem::path(argv[0]).filename().string() : std::string("asio_echo");
  CLI::App app{"Reference single-threaded echo server on Asio, written by hand.", name};
  app.add_option("--proto", proto, "tcp, udp, unix or unix-dgram")
      ->check(CLI::IsMember({"tcp", "udp", "unix", "unix-dgram"}))
      ->capture_default_str();
  app.add_option("--host", host, "address to bind (tcp, udp)")->capture_default_str();
  app.add_option("--port", port, "port to bind (tcp, udp); 0 picks a free one")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  app.add_option("--path", path, "socket file (unix, unix-dgram)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "%s: %s (see --help)\n", name.c_str(), e.what());
    return 2;
  }

  try {
    if (proto == "unix" || proto == "unix-dgram") {
      if (path.empty()) throw std::invalid_argument("--proto " + proto + " needs --path");
      ::unlink(path.c_str());  // a file left by an earlier run would fail the bind
      if (proto == "unix") {
        serve<asio::local::stream_protocol, StreamServer>({path}, "unix:" + path);
      } else {
        serve<asio::local::datagram_protocol, DatagramServer>({path}, "unix-dgram:" + path);
      }
      ::unlink(path.c_str());
      return 0;
    }
    std::error_code bad;
    const auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, bad);
    if (bad) throw std::invalid_argument("bad --host " + host);
    const auto p = static_cast<unsigned short>(port);
    if (proto == "tcp") {
      serve<asio::ip::tcp, StreamServer>({address, p}, "tcp://");
    } else {
      serve<asio::ip::udp, DatagramServer>({address, p}, "udp://");
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
    return 1;
  }
}
