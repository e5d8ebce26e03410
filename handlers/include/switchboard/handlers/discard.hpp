#pragma once
// Discard (RFC 863): the shape of a server that only reads, a sink for load tests.

#include <cstdint>

#include "switchboard/handler.hpp"

namespace switchboard::handlers {

/// Reads until the client closes and answers nothing.
class DiscardStreamHandler : public StreamRequestHandler {
 public:
  static constexpr bool restartable = true;  // its count lives in the object
  void handle() override;
  /// Bytes read from this connection.
  std::uint64_t discarded() const { return discarded_; }

 private:
  std::uint64_t discarded_ = 0;
};

/// Drops each datagram; no reply is sent.
class DiscardDatagramHandler : public DatagramRequestHandler {
 public:
  void handle() override {}
};

}  // namespace switchboard::handlers
