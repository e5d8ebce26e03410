#pragma once
// --stats-interval under a master: the counters each worker reports on its
// pipe ("total=12 connections=3 ..."), and their sum on one line.

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace switchboard::cli {

/// Counters by name, in the order a server prints them.
using Counts = std::vector<std::pair<std::string, std::uint64_t>>;

/// "name=value ..." as ServerStats prints itself.
Counts parse_counts(const std::string& text);
/// The count of `name`; 0 if there is none.
std::uint64_t count_of(const Counts& counts, const std::string& name);
/// Adds `from` into `into`: sums, peaks as the highest, and what is now (open
/// connections, threads) only with `gauges` (an exited worker's no longer counts).
void add_counts(Counts& into, const Counts& from, bool gauges);
/// "stats: workers=N total=... ...": every counter a server prints, in its
/// order, summed over `exited` (gauges aside) and the live workers' `live`.
std::string summed_line(const Counts& exited, const std::vector<const Counts*>& live);

}  // namespace switchboard::cli
