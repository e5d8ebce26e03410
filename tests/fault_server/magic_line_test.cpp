// The magic-line parser on its own: exact matches only, and a SLEEP with a bad
// or huge number is an ordinary line.

#include "magic_line.hpp"

#include <gtest/gtest.h>

namespace switchboard::fault {
namespace {

using namespace std::chrono_literals;

TEST(StripNewline, RemovesOneNewlineOrCrlf) {
  EXPECT_EQ(strip_newline("BOOM\n"), "BOOM");
  EXPECT_EQ(strip_newline("BOOM\r\n"), "BOOM");
  EXPECT_EQ(strip_newline("BOOM"), "BOOM");
  EXPECT_EQ(strip_newline("BOOM\n\n"), "BOOM\n");
  EXPECT_EQ(strip_newline("BOOM\r"), "BOOM\r");  // a lone CR is not a newline
  EXPECT_EQ(strip_newline("\n"), "");
  EXPECT_EQ(strip_newline(""), "");
}

TEST(ParseMagic, EachMagicWord) {
  EXPECT_EQ(parse_magic("BOOM").fault, Fault::boom);
  EXPECT_EQ(parse_magic("BOOM42").fault, Fault::boom42);
  EXPECT_EQ(parse_magic("OOM").fault, Fault::oom);
  EXPECT_EQ(parse_magic("HANG").fault, Fault::hang);
  EXPECT_EQ(parse_magic("WHOAMI").fault, Fault::whoami);
}

TEST(ParseMagic, SleepTakesMilliseconds) {
  EXPECT_EQ(parse_magic("SLEEP250").fault, Fault::sleep);
  EXPECT_EQ(parse_magic("SLEEP250").sleep, 250ms);
  EXPECT_EQ(parse_magic("SLEEP0").sleep, 0ms);
  EXPECT_EQ(parse_magic("SLEEP007").sleep, 7ms);
  EXPECT_EQ(parse_magic("SLEEP0000000000000000000001").sleep, 1ms);
  EXPECT_EQ(parse_magic("SLEEP60000").sleep, kMaxSleep);
}

TEST(ParseMagic, AnythingElseIsAnOrdinaryLine) {
  for (const char* text : {"",
                           "boom",
                           "BOOM ",
                           " BOOM",
                           "BOOM43",
                           "BOOM4",
                           "OOMX",
                           "HANGS",
                           "WHOAMI?",
                           "SLEEP",
                           "SLEEPx",
                           "SLEEP-5",
                           "SLEEP+5",
                           "SLEEP 5",
                           "SLEEP5x",
                           "SLEEP5.0",
                           "SLEEP60001",
                           "SLEEP99999",
                           "SLEEP18446744073709551616",
                           "sleep5",
                           "BOOM\r"}) {
    EXPECT_EQ(parse_magic(text).fault, Fault::none) << '"' << text << '"';
  }
}

TEST(ParseMagic, EmbeddedNulIsAnOrdinaryLine) {
  using namespace std::string_view_literals;
  EXPECT_EQ(parse_magic("BOOM\0"sv).fault, Fault::none);
  EXPECT_EQ(parse_magic("SLEEP1\0"sv).fault, Fault::none);
}

}  // namespace
}  // namespace switchboard::fault
