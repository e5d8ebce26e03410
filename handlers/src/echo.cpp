#include "switchboard/handlers/echo.hpp"

#include <string>

namespace switchboard::handlers {

void EchoStreamHandler::handle() {
  try {
    for (std::string line = rfile.readline(); !line.empty(); line = rfile.readline())
      wfile.write(line);
  } catch (const LineTooLong&) {
    // An abusive or confused client: drop the connection, not the server's
    // composure (no error report). finish() still sends the lines before it.
  }
}

void EchoDatagramHandler::handle() { wfile.write(packet()); }

}  // namespace switchboard::handlers
