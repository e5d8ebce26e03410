#pragma once
// A log-bucketed latency histogram: 1/128 relative precision from 1 ns to
// hours, fixed memory, merge by addition (one per load thread, merged at the end).

#include <array>
#include <bit>
#include <cstdint>

namespace loadgen {

class Histogram {
 public:
  void record(std::uint64_t ns) {
    ++counts_[index(ns)];
    ++total_;
    if (ns > max_) max_ = ns;
  }
  void merge(const Histogram& other) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    if (other.max_ > max_) max_ = other.max_;
  }
  std::uint64_t count() const { return total_; }
  std::uint64_t max() const { return max_; }
  /// The value at quantile q (0..1): the upper edge of its bucket, capped at max().
  std::uint64_t quantile(double q) const {
    if (total_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(total_ - 1)) + 1;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      if (counts_[i] >= rank) return std::min(upper(i), max_);
      rank -= counts_[i];
    }
    return max_;
  }

 private:
  static constexpr int kSubBits = 7;  // 128 sub-buckets per power of two
  static constexpr std::size_t kSub = std::size_t{1} << kSubBits;

  static std::size_t index(std::uint64_t v) {
    if (v < kSub) return static_cast<std::size_t>(v);
    const int exp = std::bit_width(v) - 1 - kSubBits;  // >= 0
    return static_cast<std::size_t>(exp + 1) * kSub + static_cast<std::size_t>((v >> exp) - kSub);
  }
  static std::uint64_t upper(std::size_t i) {
    if (i < kSub) return i;
    const std::size_t exp = i / kSub - 1;
    return ((kSub + i % kSub + 1) << exp) - 1;
  }

  std::array<std::uint64_t, (64 - kSubBits + 1) * kSub> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace loadgen
