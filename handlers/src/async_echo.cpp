#include <string>

#include "switchboard/handlers/coroutine.hpp"

namespace switchboard::handlers {

asio::awaitable<void> AsyncEchoStreamHandler::handle_async() {
  try {
    // The line is written before the next read, so a view of it will do: no copy.
    for (std::string_view line = co_await rfile.readline_view(); !line.empty();
         line = co_await rfile.readline_view())
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
