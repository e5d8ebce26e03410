#include <string>

#include "switchboard/handlers/coroutine.hpp"
#include "switchboard/handlers/timestamp.hpp"

namespace switchboard::handlers {

asio::awaitable<void> AsyncTimestampStreamHandler::handle_async() {
  try {
    for (std::string line = co_await rfile.readline(); !line.empty();
         line = co_await rfile.readline())
      co_await wfile.write(timestamped(line));
  } catch (const LineTooLong&) {
    // As for TimestampStreamHandler: an over-long line ends the connection quietly.
  }
}

asio::awaitable<void> AsyncTimestampDatagramHandler::handle_async() {
  wfile.write(timestamped(packet()));
  co_return;
}

}  // namespace switchboard::handlers
