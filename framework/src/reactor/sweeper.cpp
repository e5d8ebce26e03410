#include "sweeper.hpp"

#include <algorithm>

namespace switchboard::detail {

namespace {

std::chrono::nanoseconds tick_for(const ServerOptions& o) {
  double shortest = 0;
  for (Seconds s : {o.timeout, o.write_timeout, o.first_request_timeout})
    if (s.count() > 0) shortest = shortest == 0 ? s.count() : std::min(shortest, s.count());
  if (shortest == 0) return std::chrono::nanoseconds{0};
  const double tick = std::clamp(shortest / 8, 0.005, 1.0);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(tick * 1e9));
}

}  // namespace

Sweeper::Sweeper(asio::io_context& io, const ServerOptions& options)
    : timer_(io), interval_(tick_for(options)) {
  head_.prev_ = head_.next_ = &head_;
  arm();
}

Sweeper::~Sweeper() { stop(); }

bool Sweeper::expired(std::uint64_t since, Seconds limit) const {
  // The stamp may have come just before the next tick: count whole ticks after it.
  if (interval_.count() == 0 || tick_ <= since) return false;
  return static_cast<double>(tick_ - since - 1) *
             std::chrono::duration<double>(interval_).count() >=
         limit.count();
}

void Sweeper::add(Entry& e) {
  e.prev_ = head_.prev_;
  e.next_ = &head_;
  head_.prev_->next_ = &e;
  head_.prev_ = &e;
}

void Sweeper::remove(Entry& e) {
  if (!e.prev_) return;
  e.prev_->next_ = e.next_;
  e.next_->prev_ = e.prev_;
  e.prev_ = e.next_ = nullptr;
}

void Sweeper::drain() { visit(&Entry::on_drain); }

// A visit only cancels operations (completions come later), so the list does
// not change under the walk; `next` is taken first anyway.
void Sweeper::visit(void (Entry::*what)()) {
  for (Entry* e = head_.next_; e != &head_;) {
    Entry* next = e->next_;
    (e->*what)();
    e = next;
  }
}

void Sweeper::stop() {
  stopped_ = true;
  timer_.cancel();
}

void Sweeper::arm() {
  if (interval_.count() == 0 || stopped_) return;
  timer_.expires_after(interval_);
  timer_.async_wait([this](const asio::error_code& ec) {
    if (ec || stopped_) return;
    ++tick_;
    time_ = std::chrono::steady_clock::now();
    visit(&Entry::on_sweep);
    arm();
  });
}

}  // namespace switchboard::detail
