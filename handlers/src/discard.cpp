#include "switchboard/handlers/discard.hpp"

#include <string>

namespace switchboard::handlers {

void DiscardStreamHandler::handle() {
  for (std::string chunk = rfile.read_some(); !chunk.empty(); chunk = rfile.read_some())
    discarded_ += chunk.size();
}

}  // namespace switchboard::handlers
