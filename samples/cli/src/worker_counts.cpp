#include "worker_counts.hpp"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "switchboard/stats.hpp"

namespace switchboard::cli {
namespace {

bool is_gauge(const std::string& name) {
  return name == "connections" || name == "active" || name == "queued" || name == "threads" ||
         name == "processes";
}

bool is_peak(const std::string& name) { return name == "peak_connections" || name == "max_active"; }

}  // namespace

Counts parse_counts(const std::string& text) {
  Counts counts;
  std::istringstream in(text);
  for (std::string pair; in >> pair;) {
    const auto eq = pair.find('=');
    if (eq != std::string::npos)
      counts.emplace_back(pair.substr(0, eq), std::strtoull(pair.c_str() + eq + 1, nullptr, 10));
  }
  return counts;
}

std::uint64_t count_of(const Counts& counts, const std::string& name) {
  for (const auto& [n, v] : counts)
    if (n == name) return v;
  return 0;
}

void add_counts(Counts& into, const Counts& from, bool gauges) {
  for (const auto& entry : from) {  // no structured binding: clang 14 cannot capture one
    const std::string& name = entry.first;
    const std::uint64_t v = entry.second;
    if (!gauges && is_gauge(name)) continue;
    auto it =
        std::find_if(into.begin(), into.end(), [&](const auto& c) { return c.first == name; });
    if (it == into.end()) it = into.insert(into.end(), {name, 0});
    it->second = is_peak(name) ? std::max(it->second, v) : it->second + v;
  }
}

std::string summed_line(const Counts& exited, const std::vector<const Counts*>& live) {
  std::ostringstream zero;
  zero << ServerStats{};
  Counts sum = parse_counts(zero.str());  // every name, in the order a single server prints them
  add_counts(sum, exited, /*gauges=*/false);
  for (const Counts* w : live) add_counts(sum, *w, /*gauges=*/true);
  std::ostringstream line;
  line << "stats: workers=" << live.size();
  for (const auto& [name, v] : sum) line << ' ' << name << '=' << v;
  return line.str();
}

}  // namespace switchboard::cli
