#include "fault_handlers.hpp"

#include <poll.h>

#include <cerrno>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>

#include "magic_line.hpp"

namespace switchboard::fault {
namespace {

// The faults that are exceptions; any other fault returns.
void throw_if_asked(Fault fault) {
  switch (fault) {
    case Fault::boom:
      throw std::runtime_error("BOOM");
    case Fault::boom42:
      throw 42;
    case Fault::oom:
      throw std::bad_alloc();
    default:
      return;
  }
}

}  // namespace

void FaultStreamHandler::handle() {
  try {
    for (std::string line = rfile.readline(); !line.empty(); line = rfile.readline()) {
      const Magic magic = parse_magic(strip_newline(line));
      throw_if_asked(magic.fault);
      switch (magic.fault) {
        case Fault::sleep:
          wfile.flush();  // what came before is answered before the slow part
          std::this_thread::sleep_for(magic.sleep);
          wfile.write(line);
          break;
        case Fault::hang:
          wfile.flush();
          wait_for_connection_end();
          return;
        case Fault::whoami:
          wfile.write(client_address().to_string() + "\n");
          break;
        default:
          wfile.write(line);
      }
    }
  } catch (const LineTooLong&) {
    // As timestamp_server: the connection ends; finish() sends the lines before it.
  }
}

void FaultStreamHandler::wait_for_connection_end() {
  // POLLRDHUP alone: bytes the client sends after HANG do not end the wait.
  pollfd p{request().connection.fd(), POLLRDHUP, 0};
  while (::poll(&p, 1, -1) < 0 && errno == EINTR) {
  }
}

void FaultDatagramHandler::handle() {
  const Magic magic = parse_magic(strip_newline(packet()));
  throw_if_asked(magic.fault);
  switch (magic.fault) {
    case Fault::sleep:
      std::this_thread::sleep_for(magic.sleep);
      wfile.write(packet());
      break;
    case Fault::hang:
      while (!server().wait_for_close_deadline(Seconds(3600))) {
      }
      break;
    case Fault::whoami:
      wfile.write(client_address().to_string() + "\n");
      break;
    default:
      wfile.write(packet());
  }
}

}  // namespace switchboard::fault
