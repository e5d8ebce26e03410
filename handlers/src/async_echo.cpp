#include <string_view>

#include "switchboard/handlers/coroutine.hpp"

namespace switchboard::handlers {

asio::awaitable<void> AsyncEchoStreamHandler::handle_async() {
  // Written before the next read, so a view of the reader's buffer will do: no copy.
  for (std::string_view data = co_await rfile.read_some_view(); !data.empty();
       data = co_await rfile.read_some_view())
    co_await wfile.write(data);
}

asio::awaitable<void> AsyncEchoDatagramHandler::handle_async() {
  wfile.write(packet());
  co_return;
}

}  // namespace switchboard::handlers
