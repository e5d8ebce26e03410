// A server of its own on an installed switchboard::cli: the two-line main()
// the README shows. Run by install_test.cmake: --help, a bad flag, and one
// request served (cli_client.cpp).

#include <cctype>
#include <string>
#include <switchboard/cli.hpp>

class UpperCase : public switchboard::StreamRequestHandler {
 public:
  void handle() override {
    for (std::string line = rfile.readline(); !line.empty(); line = rfile.readline()) {
      for (char& c : line) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      wfile.write(line);
    }
  }
};

int main(int argc, char** argv) {
  return switchboard::cli::run_server(argc, argv, "Upper-case echo",
                                      switchboard::handler<UpperCase>);
}
