#pragma once
// Echo (RFC 862): every byte comes back, in order.

#include "switchboard/handler.hpp"

namespace switchboard::handlers {

/// Sends back what each read brings, as soon as it is read (no wait for a
/// newline: bytes, not lines), until the client closes its side.
class EchoStreamHandler : public StreamRequestHandler {
 public:
  static constexpr bool restartable = true;  // keeps nothing on its stack between reads
  void handle() override;
};

/// Sends each datagram back to its sender as one datagram (an empty one included).
class EchoDatagramHandler : public DatagramRequestHandler {
 public:
  void handle() override;
};

}  // namespace switchboard::handlers
