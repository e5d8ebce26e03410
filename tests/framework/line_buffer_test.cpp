// The read buffer behind both stream readers: how it sizes its receives.
#include "switchboard/detail/line_buffer.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

namespace {

using switchboard::detail::LineBuffer;

// Receives `n` bytes of 'x' into the buffer, as a read would; returns the room it was offered.
std::size_t receive(LineBuffer& buffer, std::size_t most, std::size_t n) {
  std::size_t room = 0;
  char* into = buffer.room(most, room);
  const std::size_t got = std::min(n, room);
  std::memset(into, 'x', got);
  buffer.filled(got);
  return room;
}

// A peer that sends more than the buffer holds, read by read_some(), which
// takes everything each time: the buffer grows to `most`, so a 16 KiB
// request costs one receive (and one send back), not sixteen.
TEST(LineBuffer, FullReceivesGrowTheBufferEvenWhenTheirBytesAreTaken) {
  LineBuffer buffer(0, 1024);
  std::size_t room = 0;
  for (int i = 0; i < 8; ++i) {
    room = receive(buffer, 64 * 1024, 1 << 20);
    buffer.take(buffer.buffered());
  }
  EXPECT_EQ(room, 64u * 1024);
}

// Small requests keep the small buffer an idle connection holds.
TEST(LineBuffer, ReceivesThatDoNotFillItKeepItsSize) {
  LineBuffer buffer(0, 1024);
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(receive(buffer, 64 * 1024, 64), 1024u) << "receive " << i;
    buffer.take(buffer.buffered());
  }
}

// A line longer than the buffer grows it while its bytes are unread, as before.
TEST(LineBuffer, ALongLineGrowsTheBufferToHoldIt) {
  LineBuffer buffer(0, 16);
  std::string line(100, 'y');
  line += '\n';
  std::size_t at = 0;
  while (at < line.size()) {
    std::size_t room = 0;
    char* into = buffer.room(1024, room);
    const std::size_t n = std::min(room, line.size() - at);
    std::memcpy(into, line.data() + at, n);
    buffer.filled(n);
    at += n;
  }
  ASSERT_EQ(buffer.next_line(), line.size());
  EXPECT_EQ(buffer.take(line.size()), line);
}

}  // namespace
