#pragma once
// Echo (RFC 862): every byte comes back, in order.

#include "switchboard/handler.hpp"

namespace switchboard::handlers {

/// Echoes line by line until the client closes its side; the last line may
/// lack its '\n'. A line longer than options().max_line ends the connection
/// without echoing any of it.
class EchoStreamHandler : public StreamRequestHandler {
 public:
  static constexpr bool restartable = true;  // keeps nothing on its stack between lines
  void handle() override;
};

/// Sends each datagram back to its sender as one datagram (an empty one included).
class EchoDatagramHandler : public DatagramRequestHandler {
 public:
  void handle() override;
};

}  // namespace switchboard::handlers
