// echo_server: every byte sent comes back (TCP, Unix stream), every datagram
// goes back to its sender (UDP, Unix datagram). The policy is a flag:
//   echo_server --proto udp --policy pool --threads 4 --port 0
// Under --policy reactor it serves with the coroutine handlers.

#include "common/server_cli.hpp"
#include "switchboard/handlers/coroutine.hpp"
#include "switchboard/handlers/echo.hpp"

int main(int argc, char** argv) {
  using namespace switchboard;
  return samples::run_server(
      argc, argv, "Echo server: sends back what it receives.",
      {handler<handlers::EchoStreamHandler>, handler<handlers::EchoDatagramHandler>,
       handler<handlers::AsyncEchoStreamHandler>, handler<handlers::AsyncEchoDatagramHandler>});
}
