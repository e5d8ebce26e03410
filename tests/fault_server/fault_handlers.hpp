#pragma once
// fault_server's handlers: echo line by line (stream) or datagram by datagram,
// and act on the magic lines of magic_line.hpp.

#include "switchboard/handler.hpp"

namespace switchboard::fault {

/// Echoes each line; a magic line throws, sleeps, hangs or answers WHOAMI.
/// An over-long line ends the connection quietly, as timestamp_server's does.
class FaultStreamHandler : public StreamRequestHandler {
 public:
  void handle() override;

 private:
  /// Blocks until the connection ends: the peer closes, or the server shuts it
  /// down (idle at a drain, or every connection at the close deadline).
  void wait_for_connection_end();
};

/// Echoes each datagram; a magic datagram throws, sleeps, hangs (until the
/// close deadline) or answers WHOAMI.
class FaultDatagramHandler : public DatagramRequestHandler {
 public:
  void handle() override;
};

}  // namespace switchboard::fault
