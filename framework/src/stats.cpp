#include "switchboard/stats.hpp"

#include <ostream>

namespace switchboard {

std::ostream& operator<<(std::ostream& os, const ServerStats& s) {
  return os << "total=" << s.total_requests << " connections=" << s.connections
            << " peak_connections=" << s.peak_connections << " active=" << s.active_requests
            << " max_active=" << s.max_active << " queued=" << s.queued << " threads=" << s.threads
            << " processes=" << s.processes << " refused=" << s.refused
            << " rejected=" << s.rejected << " timed_out=" << s.timed_out << " cut=" << s.cut
            << " handler_errors=" << s.handler_errors << " peer_resets=" << s.peer_resets
            << " accept_errors=" << s.accept_errors << " dropped_datagrams=" << s.dropped_datagrams;
}

}  // namespace switchboard
