// custom_handler: the smallest server of your own. Copy this file, change
// handle(), pick a server class. Try it: printf 'hello\n' | nc 127.0.0.1 9999

#include <CLI/CLI.hpp>
#include <cctype>
#include <cstdint>
#include <exception>
#include <iostream>
#include <string>

#include "switchboard/switchboard.hpp"

// One handler object per connection: rfile/wfile are the connection, buffered.
class UpperCaseHandler : public switchboard::StreamRequestHandler {
 public:
  void handle() override {
    // readline() returns "" once the client has closed its side.
    for (std::string line = rfile.readline(); !line.empty(); line = rfile.readline()) {
      for (char& c : line) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      wfile.write(line);
    }
  }
};

int main(int argc, char** argv) {
  CLI::App app("Upper-case echo: the custom handler sample.");
  std::uint16_t port = 9999;
  app.add_option("--port", port, "port on 127.0.0.1; 0 picks a free one")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  try {
    // The one line that picks the server: TCP, a thread per connection.
    switchboard::ThreadingTCPServer server({"127.0.0.1", port},
                                           switchboard::handler<UpperCaseHandler>);
    switchboard::StopOnSignals stop(server);  // Ctrl-C stops serve_forever()
    std::cout << "listening on " << server.url() << std::endl;
    server.serve_forever();
    server.server_close();
  } catch (const std::exception& e) {
    std::cerr << "custom_handler: " << e.what() << '\n';
    return 1;
  }
}
