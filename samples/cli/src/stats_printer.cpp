#include "stats_printer.hpp"

#include <iostream>
#include <sstream>

namespace switchboard::cli {

StatsPrinter::StatsPrinter(const BaseServer& server, Seconds interval)
    : StatsPrinter(server, interval, [](const ServerStats& stats) {
        std::ostringstream line;  // one write, so lines from threads never interleave
        line << "stats: " << stats << '\n';
        std::cerr << line.str() << std::flush;
      }) {}

StatsPrinter::StatsPrinter(const BaseServer& server, Seconds interval,
                           std::function<void(const ServerStats&)> sink) {
  if (interval.count() <= 0) return;
  thread_ = std::thread([this, &server, interval, sink = std::move(sink)] {
    std::unique_lock lock(mutex_);
    while (!stop_changed_.wait_for(lock, interval, [this] { return stop_; })) sink(server.stats());
  });
}

StatsPrinter::~StatsPrinter() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  stop_changed_.notify_all();
  thread_.join();
}

}  // namespace switchboard::cli
