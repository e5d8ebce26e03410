#pragma once
// Internal: where a datagram handler's reply goes when the reactor serves it:
// into its loop's batch, sent with one sendmmsg() after the batch it came in.

#include <string_view>

#include "switchboard/address.hpp"

namespace switchboard::detail {

class ReplySink {
 public:
  /// Queues one datagram (an empty one included) for `to`. Loop thread.
  virtual void queue(const Address& to, std::string_view data) = 0;
  virtual ~ReplySink() = default;
};

}  // namespace switchboard::detail
