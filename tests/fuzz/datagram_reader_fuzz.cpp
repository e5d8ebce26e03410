// StreamReader on a datagram held in memory (DatagramRequestHandler::rfile):
// the same contract as on a connection, the whole input there at once.
//
// Input: the line model's fields (line_model.hpp); the payload is the datagram.

#include <cstdint>

#include "line_model.hpp"
#include "switchboard/stream.hpp"

using switchboard::fuzz::InputBytes;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  InputBytes in(data, size);
  const auto script = switchboard::fuzz::read_script(in);
  const std::string_view packet = in.rest();
  switchboard::StreamReader reader(packet, script.max_line);
  switchboard::fuzz::check_reader(reader, packet, script);
  return 0;
}
