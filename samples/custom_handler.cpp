// custom_handler: the smallest server of your own. Copy this file, change
// handle(), link switchboard::cli. main() is one call that gives the server
// every flag the other samples take (--port, --policy, --threads, the
// timeouts, ...; see --help), the "listening on" line and a clean stop on
// Ctrl-C. Try it: printf 'hello\n' | nc 127.0.0.1 9999

#include <cctype>
#include <string>
#include <switchboard/cli.hpp>

// One handler object per connection: rfile/wfile are the connection, buffered.
class UpperCase : public switchboard::StreamRequestHandler {
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
  return switchboard::cli::run_server(argc, argv, "Upper-case echo: the custom handler sample.",
                                      switchboard::handler<UpperCase>);
}
