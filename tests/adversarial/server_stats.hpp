#pragma once
// The counters a server prints with --stats-interval: one line on stderr,
// "stats: total=N connections=N ... refused=N ...". Keys may be added and come
// in any order, so a line is read as key=value pairs.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "support/deadline.hpp"

namespace switchboard::test {

/// One stats line as key -> value.
class StatsLine {
 public:
  /// Parses "stats: k=v k=v ..."; nullopt if the line is anything else.
  static std::optional<StatsLine> parse(std::string_view line);
  /// The value of `key`; throws std::out_of_range naming the key if it is missing.
  std::uint64_t operator[](std::string_view key) const;
  bool has(std::string_view key) const { return values_.find(key) != values_.end(); }
  const std::string& text() const { return text_; }

 private:
  std::map<std::string, std::uint64_t, std::less<>> values_;
  std::string text_;
};

/// Follows a server's stderr file (SpawnOptions::stderr_path) as it grows.
class ServerLog {
 public:
  explicit ServerLog(std::string path) : path_(std::move(path)) {}
  ServerLog(ServerLog&& other) noexcept;  // the moved-from log follows no file
  ServerLog& operator=(ServerLog&&) = delete;
  ServerLog(const ServerLog&) = delete;
  ServerLog& operator=(const ServerLog&) = delete;
  /// Whether this log follows a file (false once moved from).
  bool following() const { return !path_.empty(); }
  /// The latest stats line so far, if any.
  std::optional<StatsLine> latest_stats();
  /// Waits for a stats line, printed from now on, for which `pred` holds; nullopt
  /// at the deadline (a server prints one every --stats-interval).
  std::optional<StatsLine> wait_for_stats(const std::function<bool(const StatsLine&)>& pred,
                                          Duration timeout = kTimeout);
  /// Lines so far that contain `text` (stats lines excluded).
  std::size_t count_lines_with(std::string_view text);
  /// Everything the server wrote to stderr so far.
  const std::string& text();

 private:
  void read_more();  // appends what the file gained; parses complete lines

  std::string path_;
  std::string text_;
  std::size_t parsed_ = 0;  // bytes of text_ split into lines so far
  std::optional<StatsLine> latest_;
  std::size_t stats_seen_ = 0;
};

}  // namespace switchboard::test
