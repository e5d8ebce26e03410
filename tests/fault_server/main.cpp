// fault_server: the sample servers' flags (--max-line included) and listening
// line, echoing line by line (or datagram by datagram), with magic lines that
// make the handler misbehave on purpose: BOOM, BOOM42, OOM, SLEEP<ms>, HANG,
// WHOAMI (magic_line.hpp). For black-box tests only; not installed.

#include <switchboard/cli.hpp>

#include "fault_handlers.hpp"

int main(int argc, char** argv) {
  using namespace switchboard;
  return cli::run_server(
      argc, argv,
      "Fault-injection echo server for tests: BOOM, BOOM42, OOM, SLEEP<ms>, HANG, WHOAMI.",
      handler<fault::FaultStreamHandler>, handler<fault::FaultDatagramHandler>);
}
