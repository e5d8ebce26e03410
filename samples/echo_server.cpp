// echo_server: every byte sent comes back as soon as it is read (TCP, Unix
// stream; RFC 862, no wait for a newline), every datagram goes back to its
// sender (UDP, Unix datagram). The policy is a flag:
//   echo_server --proto udp --policy pool --threads 4 --port 0
// Under --policy reactor it serves with the coroutine handlers.

#include <switchboard/cli.hpp>

#include "switchboard/handlers/coroutine.hpp"
#include "switchboard/handlers/echo.hpp"

int main(int argc, char** argv) {
  using namespace switchboard;
  return cli::run_server(argc, argv, "Echo server: sends back every byte it receives.",
                         {.stream = handler<handlers::EchoStreamHandler>,
                          .datagram = handler<handlers::EchoDatagramHandler>,
                          .reactor_stream = handler<handlers::AsyncEchoStreamHandler>,
                          .reactor_datagram = handler<handlers::AsyncEchoDatagramHandler>,
                          .reads_lines = false});  // bytes: no --max-line
}
