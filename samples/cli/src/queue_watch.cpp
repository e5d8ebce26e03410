#include "queue_watch.hpp"

#include <algorithm>
#include <sstream>

namespace switchboard::cli {
namespace {

// Connections workers have taken so far. `refused` also counts connections
// refused for want of descriptors, which never reached `total_requests`;
// those are among `accept_errors`, and taking them off too errs towards a
// quieter watch, never a false warning.
std::uint64_t started(const ServerStats& s) {
  const std::uint64_t refused_by_limit =
      s.refused > s.accept_errors ? s.refused - s.accept_errors : 0;
  const std::uint64_t not_started = s.queued + s.rejected + refused_by_limit;
  return s.total_requests > not_started ? s.total_requests - not_started : 0;
}

}  // namespace

QueueWatch::QueueWatch(Seconds threshold, std::size_t max_queued, Overload overload)
    : threshold_(threshold), max_queued_(max_queued), overload_(overload) {}

Seconds QueueWatch::interval() const {
  return std::clamp(threshold_ / 10, Seconds{0.01}, Seconds{1});
}

std::optional<std::string> QueueWatch::observe(Clock::time_point now, const ServerStats& stats) {
  const Sample sample{now, stats.queued, started(stats)};
  if (sample.queued == 0) {
    samples_.clear();
    if (!warned_) return std::nullopt;
    warned_ = false;
    return "no connection waits for a worker now\n";
  }
  samples_.push_back(sample);
  const auto old_enough = now - std::chrono::duration_cast<Clock::duration>(threshold_);
  while (samples_.size() > 1 && samples_[1].at <= old_enough) samples_.pop_front();
  const Sample& then = samples_.front();
  if (warned_ || then.at > old_enough) return std::nullopt;
  // Of those queued then, the ones workers have not reached since.
  const std::uint64_t taken = sample.started > then.started ? sample.started - then.started : 0;
  if (taken >= then.queued) return std::nullopt;
  const std::uint64_t waiting = then.queued - taken;
  warned_ = true;
  std::ostringstream line;
  line << "warning: " << waiting << " connections have waited over " << threshold_.count()
       << " s for one of " << stats.threads << " workers";
  if (stats.queued >= max_queued_)
    line << (overload_ == Overload::block ? " (the queue is full: more wait unaccepted)"
                                          : " (the queue is full: more are refused)");
  line << "; long-lived connections want --policy reactor or threading\n";
  return line.str();
}

}  // namespace switchboard::cli
