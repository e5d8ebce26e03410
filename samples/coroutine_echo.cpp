// coroutine_echo: a coroutine handler on the reactor policy, the file to copy
// for a server of your own that holds many mostly idle connections on a few
// threads. Each connection is a coroutine on one of the event loops; an idle
// one costs a socket and a small buffer, not a thread.
// Try it: printf 'hello\n' | nc 127.0.0.1 9999

#include <CLI/CLI.hpp>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <iostream>
#include <string>
#include <switchboard/coroutine.hpp>
#include <switchboard/switchboard.hpp>

// One handler object per connection; handle_async() co_awaits its reads and writes.
class EchoLines : public switchboard::AsyncStreamRequestHandler {
 public:
  asio::awaitable<void> handle_async() override {
    // readline() returns "" once the client has closed its side.
    for (std::string line = co_await rfile.readline(); !line.empty();
         line = co_await rfile.readline())
      co_await wfile.write(line);  // sent before the next read waits
  }
};

int main(int argc, char** argv) {
  const std::string name =
      argc > 0 ? std::filesystem::path(argv[0]).filename().string() : std::string("coroutine_echo");
  CLI::App app("Echo with a coroutine handler on the reactor policy.", name);
  int port = 9999;
  std::size_t loops = 0;
  app.add_option("--port", port, "port on 127.0.0.1 (0 to 65535); 0 picks a free one")
      ->type_name("PORT")
      ->check(CLI::Range(0, 65535).description(""))
      ->capture_default_str();
  app.add_option("--loops", loops, "event loops (threads); 0 = one per CPU")
      ->type_name("N")
      ->check(CLI::Range(0, 1024).description(""))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {  // one line and status 2, as the other samples
    std::cerr << name << ": " << e.what() << " (see --help)\n";
    return 2;
  }
  try {
    switchboard::ServerOptions options;
    options.loops = loops;
    // The one line that picks the server: TCP, connections on event loops.
    switchboard::ReactorTCPServer server({"127.0.0.1", static_cast<std::uint16_t>(port)},
                                         switchboard::handler<EchoLines>, options);
    switchboard::StopOnSignals stop(server);  // Ctrl-C drains and stops serve_forever()
    std::cout << "listening on " << server.url() << std::endl;
    server.serve_forever();
    server.server_close();
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << '\n';
    return 1;
  }
}
