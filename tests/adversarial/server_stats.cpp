#include "server_stats.hpp"

#include <poll.h>

#include <charconv>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <utility>

namespace switchboard::test {

std::optional<StatsLine> StatsLine::parse(std::string_view line) {
  constexpr std::string_view prefix = "stats:";
  const auto at = line.find(prefix);
  if (at == std::string_view::npos) return std::nullopt;
  StatsLine stats;
  stats.text_ = line;
  std::string_view rest = line.substr(at + prefix.size());
  while (!rest.empty()) {
    const auto start = rest.find_first_not_of(' ');
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const auto end = std::min(rest.find(' '), rest.size());
    const std::string_view pair = rest.substr(0, end);
    rest.remove_prefix(end);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;  // not a counter: ignored
    std::uint64_t value = 0;
    const std::string_view number = pair.substr(eq + 1);
    const auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), value);
    if (ec != std::errc{} || ptr != number.data() + number.size()) continue;
    stats.values_.emplace(std::string(pair.substr(0, eq)), value);
  }
  if (stats.values_.empty()) return std::nullopt;
  return stats;
}

std::uint64_t StatsLine::operator[](std::string_view key) const {
  const auto it = values_.find(key);
  if (it == values_.end())
    throw std::out_of_range("stats line has no '" + std::string(key) + "': " + text_);
  return it->second;
}

ServerLog::ServerLog(ServerLog&& other) noexcept
    : path_(std::exchange(other.path_, {})),
      text_(std::move(other.text_)),
      parsed_(other.parsed_),
      latest_(std::move(other.latest_)),
      stats_seen_(other.stats_seen_) {}

void ServerLog::read_more() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return;
  in.seekg(static_cast<std::streamoff>(text_.size()));
  text_.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  for (auto nl = text_.find('\n', parsed_); nl != std::string::npos;
       nl = text_.find('\n', parsed_)) {
    if (auto stats = StatsLine::parse(std::string_view(text_).substr(parsed_, nl - parsed_))) {
      latest_ = std::move(stats);
      ++stats_seen_;
    }
    parsed_ = nl + 1;
  }
}

std::optional<StatsLine> ServerLog::latest_stats() {
  read_more();
  return latest_;
}

std::optional<StatsLine> ServerLog::wait_for_stats(
    const std::function<bool(const StatsLine&)>& pred, Duration timeout) {
  const Deadline deadline(timeout);
  read_more();
  std::size_t seen = stats_seen_;
  for (;;) {
    read_more();
    if (stats_seen_ != seen && latest_ && pred(*latest_)) return latest_;
    seen = stats_seen_;
    if (deadline.expired()) return std::nullopt;
    // The file has no readiness to wait on; look again soon (the deadline bounds it).
    ::poll(nullptr, 0, std::min(20, deadline.poll_ms()));
  }
}

std::size_t ServerLog::count_lines_with(std::string_view text) {
  read_more();
  std::size_t n = 0;
  std::string_view all(text_.data(), parsed_);
  while (!all.empty()) {
    const auto nl = all.find('\n');
    const std::string_view line = all.substr(0, nl);
    if (line.find(text) != std::string_view::npos && line.find("stats:") == std::string_view::npos)
      ++n;
    all.remove_prefix(nl == std::string_view::npos ? all.size() : nl + 1);
  }
  return n;
}

const std::string& ServerLog::text() {
  read_more();
  return text_;
}

}  // namespace switchboard::test
