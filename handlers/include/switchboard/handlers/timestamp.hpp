#pragma once
// The classic socketserver example: each request comes back prefixed with the
// server's local time in ctime format, "[Wed Nov 25 02:52:00 2026] <data>".

#include <ctime>
#include <string>
#include <string_view>

#include "switchboard/handler.hpp"

namespace switchboard::handlers {

/// `when` as local time in ctime format without the '\n': "Wed Nov 25 02:52:00 2026".
/// Thread safe (localtime_r, not ctime).
std::string ctime_string(std::time_t when);
/// ctime_string() of the current time.
std::string ctime_now();
/// "[<ctime_now()>] <data>": a timestamp handler's reply.
std::string timestamped(std::string_view data);

/// Answers each line with "[<ctime>] <line>" (the line keeps its '\n').
class TimestampStreamHandler : public StreamRequestHandler {
 public:
  static constexpr bool restartable = true;  // keeps nothing on its stack between lines
  TimestampStreamHandler() = default;
  void handle() override;
};

/// Answers each datagram with one datagram "[<ctime>] <data>".
class TimestampDatagramHandler : public DatagramRequestHandler {
 public:
  void handle() override;
};

}  // namespace switchboard::handlers
