#pragma once
// Daytime (RFC 867): the shape of a server that speaks first and never reads.

#include "switchboard/handler.hpp"

namespace switchboard::handlers {

/// Writes the local time in ctime format and a "\r\n", then closes.
class DaytimeStreamHandler : public StreamRequestHandler {
 public:
  void handle() override;
};

/// Answers any datagram with the local time, as one datagram.
class DaytimeDatagramHandler : public DatagramRequestHandler {
 public:
  void handle() override;
};

}  // namespace switchboard::handlers
