#include "switchboard/detail/line_buffer.hpp"

#include <algorithm>
#include <cstring>

#include "switchboard/stream.hpp"

namespace switchboard::detail {

LineBuffer::LineBuffer(std::string_view data, std::size_t max_line)
    : data_(std::make_unique_for_overwrite<char[]>(data.size())),
      capacity_(data.size()),
      end_(data.size()),
      max_line_(max_line) {
  if (!data.empty()) std::memcpy(data_.get(), data.data(), data.size());
}

std::size_t LineBuffer::next_line() {
  const std::size_t from = std::max(scanned_, begin_);
  const char* base = data_.get();
  const auto* nl = base && from < end_
                       ? static_cast<const char*>(std::memchr(base + from, '\n', end_ - from))
                       : nullptr;
  if (nl) {
    const std::size_t length = static_cast<std::size_t>(nl - base) + 1 - begin_;
    if (max_line_ && length > max_line_) throw LineTooLong(max_line_);
    return length;
  }
  scanned_ = end_;
  if (max_line_ && end_ - begin_ > max_line_) throw LineTooLong(max_line_);
  return 0;
}

std::string_view LineBuffer::take(std::size_t n) {
  const std::string_view out(data_.get() + begin_, n);
  begin_ += n;
  return out;
}

char* LineBuffer::room(std::size_t most, std::size_t& size) {
  if (begin_ == end_) begin_ = end_ = scanned_ = 0;
  if (end_ == capacity_ && begin_ > 0) {  // unread bytes to the front first
    std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
    end_ -= begin_;
    scanned_ -= std::min(scanned_, begin_);
    begin_ = 0;
  }
  const bool outgrown = was_full_ && end_ == 0 && capacity_ < most;
  was_full_ = false;
  if (end_ == capacity_ || outgrown) {
    const std::size_t grown = capacity_ ? capacity_ * 2 : std::max<std::size_t>(first_capacity_, 1);
    auto bigger = std::make_unique_for_overwrite<char[]>(grown);
    if (end_) std::memcpy(bigger.get(), data_.get(), end_);
    data_ = std::move(bigger);
    capacity_ = grown;
  }
  size = std::min(capacity_ - end_, most);
  return data_.get() + end_;
}

void LineBuffer::release() {
  if (begin_ != end_) return;
  data_.reset();
  capacity_ = begin_ = end_ = scanned_ = 0;
  was_full_ = false;
}

}  // namespace switchboard::detail
