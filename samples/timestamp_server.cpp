// timestamp_server: socketserver's classic example. Each line (TCP) or
// datagram (UDP) comes back as "[Wed Nov 25 02:52:00 2026] <data>".
// Try it with timestamp_client, or: echo hello | nc 127.0.0.1 9999
// Under --policy reactor it serves with the coroutine handlers.

#include <switchboard/cli.hpp>

#include "switchboard/handlers/coroutine.hpp"
#include "switchboard/handlers/timestamp.hpp"

int main(int argc, char** argv) {
  using namespace switchboard;
  return cli::run_server(
      argc, argv, "Timestamp server: answers each line with the time.",
      {handler<handlers::TimestampStreamHandler>, handler<handlers::TimestampDatagramHandler>,
       handler<handlers::AsyncTimestampStreamHandler>,
       handler<handlers::AsyncTimestampDatagramHandler>});
}
