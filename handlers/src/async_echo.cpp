#include <string>

#include "switchboard/handlers/coroutine.hpp"

namespace switchboard::handlers {

asio::awaitable<void> AsyncEchoStreamHandler::handle_async() {
  try {
    for (std::string line = co_await rfile.readline(); !line.empty();
         line = co_await rfile.readline())
      co_await wfile.write(line);
  } catch (const LineTooLong&) {
    // As for EchoStreamHandler: the connection ends, the lines before it are sent.
  }
}

asio::awaitable<void> AsyncEchoDatagramHandler::handle_async() {
  wfile.write(packet());
  co_return;
}

}  // namespace switchboard::handlers
