// timestamp_client: the other half of timestamp_server. Sends each line of
// its input, prints the reply; an empty line or end of input ends it. At a
// terminal it prompts "> " for each line; piped input gets the replies alone,
// one per line, in order.
//   timestamp_client --proto udp --port 9999
//   printf 'one\ntwo\n' | timestamp_client

#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>

#include "switchboard/address.hpp"
#include "switchboard/client.hpp"
#include "switchboard/socket.hpp"

namespace {

using switchboard::Address;
using switchboard::ClientConnection;
using switchboard::Seconds;
using switchboard::Socket;

constexpr std::size_t kMaxReply = 64 * 1024;

std::unique_ptr<ClientConnection> connect_tcp(const Address& server, double timeout,
                                              const std::string& url) {
  try {
    return std::make_unique<ClientConnection>(server, Seconds(timeout), kMaxReply);
  } catch (const std::system_error& e) {  // said as "cannot connect", not as a missing reply
    throw std::runtime_error("cannot connect to " + url + ": " + e.code().message());
  }
}

// A connected UDP socket rather than send_to() on an unconnected one: the
// kernel then passes on only the server's datagrams, and a closed port is an
// error (ECONNREFUSED) on the next receive instead of a silent wait.
Socket connect_udp(const Address& server, double timeout, const std::string& url) {
  Socket s = Socket::open(server.family(), SOCK_DGRAM);
  s.set_timeout(SO_RCVTIMEO, std::chrono::duration<double>(timeout));
  s.set_timeout(SO_SNDTIMEO, std::chrono::duration<double>(timeout));
  if (::connect(s.fd(), server.data(), server.size()) < 0)
    throw std::runtime_error("cannot connect to " + url + ": " +
                             std::generic_category().message(errno));
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string name = argc > 0 ? std::filesystem::path(argv[0]).filename().string()
                                    : std::string("timestamp_client");
  CLI::App app("Timestamp client: sends each line of its input, prints the server's reply.", name);
  std::string proto = "tcp";
  std::string host = "127.0.0.1";
  int port = 9999;
  double timeout = 2;
  app.add_option("--proto", proto, "tcp or udp")
      ->check(CLI::IsMember({"tcp", "udp"}).description(""))
      ->capture_default_str();
  app.add_option("--host", host, "server address")->capture_default_str();
  app.add_option("--port", port, "server port (1 to 65535)")
      ->type_name("PORT")
      ->check(CLI::Range(1, 65535).description(""))
      ->capture_default_str();
  app.add_option("--timeout", timeout, "seconds to wait to connect and for each reply")
      ->type_name("SECONDS")
      ->check(CLI::Validator(
          [](const std::string& text) -> std::string {
            char* end = nullptr;
            const double seconds = std::strtod(text.c_str(), &end);
            if (text.empty() || *end != '\0' || !std::isfinite(seconds) || seconds <= 0)
              return "expected seconds > 0, got '" + text + "'";
            return {};
          },
          "", "seconds"))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << name << ": " << e.what() << " (see --help)\n";
    return 2;
  }

  // Prompts are for a person at a terminal: in a pipe they would be mixed into the replies.
  const bool interactive = ::isatty(STDIN_FILENO) == 1;
  std::string line;
  auto next_line = [&] {
    if (interactive) std::cout << "> " << std::flush;
    return std::getline(std::cin, line) && !line.empty();
  };

  const bool tcp = proto == "tcp";
  std::string url = proto + "://" + host + ":" + std::to_string(port);
  try {
    const Address server(host, static_cast<std::uint16_t>(port));
    url = proto + "://" + server.to_string();
    if (tcp) {
      const auto connection = connect_tcp(server, timeout, url);
      while (next_line()) {
        connection->wfile.write(line + "\n");
        const std::string reply = connection->rfile.readline();  // sends the line first
        if (reply.empty() || reply.back() != '\n')
          throw std::runtime_error("the server at " + url + " closed the connection");
        std::cout << reply << std::flush;
      }
    } else {
      Socket s = connect_udp(server, timeout, url);
      std::string reply;
      while (next_line()) {
        s.send_all(line);
        reply.resize(kMaxReply);
        reply.resize(s.recv_some(reply.data(), reply.size()));
        std::cout << reply << std::endl;
      }
    }
    return 0;
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::timed_out) {
      std::cerr << name << ": no reply from " << url << " within " << timeout << " s\n";
    } else if (e.code() == std::errc::connection_refused && !tcp) {
      std::cerr << name << ": no server at " << url << ": " << e.code().message() << '\n';
    } else {
      std::cerr << name << ": " << e.what() << '\n';
    }
    return 1;
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << '\n';
    return 1;
  }
}
