#include "switchboard/handlers/echo.hpp"

#include <string>

namespace switchboard::handlers {

void EchoStreamHandler::handle() {
  // The reader flushes wfile before it waits, so each chunk goes back before
  // the next is awaited.
  for (std::string data = rfile.read_some(); !data.empty(); data = rfile.read_some())
    wfile.write(data);
}

void EchoDatagramHandler::handle() { wfile.write(packet()); }

}  // namespace switchboard::handlers
