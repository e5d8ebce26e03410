// timestamp_client: the other half of timestamp_server. Prompts "> ", sends
// each line typed, prints the reply; an empty line or end of input ends it.
//   timestamp_client --proto udp --port 9999

#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>
#include <system_error>

#include "switchboard/address.hpp"
#include "switchboard/socket.hpp"
#include "switchboard/stream.hpp"

namespace {

using switchboard::Address;
using switchboard::Socket;

// A connected socket of either kind: for UDP, connect() makes a refused port
// an error on the next receive instead of a silent wait. Linux bounds a
// blocking connect() by SO_SNDTIMEO, so the timeout covers connecting too.
Socket connect_to(const Address& server, int type, double timeout, const std::string& url) {
  Socket s = Socket::open(server.family(), type);
  s.set_timeout(SO_RCVTIMEO, std::chrono::duration<double>(timeout));
  s.set_timeout(SO_SNDTIMEO, std::chrono::duration<double>(timeout));
  if (::connect(s.fd(), server.data(), server.size()) < 0) {
    const int err = errno == EINPROGRESS ? ETIMEDOUT : errno;
    throw std::runtime_error("cannot connect to " + url + ": " +
                             std::generic_category().message(err));
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app("Timestamp client: sends each line typed, prints the server's reply.");
  std::string proto = "tcp";
  std::string host = "127.0.0.1";
  std::uint16_t port = 9999;
  double timeout = 2;
  app.add_option("--proto", proto, "tcp or udp")
      ->check(CLI::IsMember({"tcp", "udp"}))
      ->capture_default_str();
  app.add_option("--host", host, "server address")->capture_default_str();
  app.add_option("--port", port, "server port")->capture_default_str();
  app.add_option("--timeout", timeout, "seconds to wait for each reply")
      ->check(CLI::Validator(
          [](const std::string& text) -> std::string {
            char* end = nullptr;
            const double seconds = std::strtod(text.c_str(), &end);
            if (text.empty() || *end != '\0' || !std::isfinite(seconds) || seconds <= 0)
              return "expected seconds > 0, got '" + text + "'";
            return {};
          },
          "SECONDS", "seconds"))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "timestamp_client: " << e.what() << " (see --help)\n";
    return 2;
  }

  const bool tcp = proto == "tcp";
  std::string url = proto + "://" + host + ":" + std::to_string(port);
  try {
    const Address server(host, port);
    url = proto + "://" + server.to_string();
    Socket s = connect_to(server, tcp ? SOCK_STREAM : SOCK_DGRAM, timeout, url);
    switchboard::StreamReader replies(&s, nullptr, 64 * 1024);
    std::string line;
    for (;;) {
      std::cout << "> " << std::flush;
      if (!std::getline(std::cin, line) || line.empty()) return 0;
      if (tcp) {
        s.send_all(line + "\n");
        const std::string reply = replies.readline();
        if (reply.empty() || reply.back() != '\n')
          throw std::runtime_error("the server at " + url + " closed the connection");
        std::cout << reply << std::flush;
      } else {
        s.send_all(line);
        std::string reply(64 * 1024, '\0');
        reply.resize(s.recv_some(reply.data(), reply.size()));
        std::cout << reply << std::endl;
      }
    }
  } catch (const std::system_error& e) {
    if (e.code() == std::errc::timed_out) {
      std::cerr << "timestamp_client: no reply from " << url << " within " << timeout << " s\n";
    } else if (e.code() == std::errc::connection_refused && !tcp) {
      std::cerr << "timestamp_client: no server at " << url << ": " << e.code().message() << '\n';
    } else {
      std::cerr << "timestamp_client: " << e.what() << '\n';
    }
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "timestamp_client: " << e.what() << '\n';
    return 1;
  }
}
