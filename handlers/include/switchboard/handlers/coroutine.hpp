#pragma once
// The coroutine versions of echo and timestamp, for the reactor policy (they
// serve under the other policies too). Includes Asio: link switchboard::asio.

#include "switchboard/coroutine.hpp"

namespace switchboard::handlers {

/// Sends back what each read brings until the client closes its side, as
/// EchoStreamHandler does.
class AsyncEchoStreamHandler : public AsyncStreamRequestHandler {
 public:
  asio::awaitable<void> handle_async() override;
};

/// Sends each datagram back to its sender (an empty one included).
class AsyncEchoDatagramHandler : public AsyncDatagramRequestHandler {
 public:
  asio::awaitable<void> handle_async() override;
};

/// Answers each line with "[<ctime>] <line>", as TimestampStreamHandler does.
class AsyncTimestampStreamHandler : public AsyncStreamRequestHandler {
 public:
  asio::awaitable<void> handle_async() override;
};

/// Answers each datagram with one datagram "[<ctime>] <data>".
class AsyncTimestampDatagramHandler : public AsyncDatagramRequestHandler {
 public:
  asio::awaitable<void> handle_async() override;
};

}  // namespace switchboard::handlers
