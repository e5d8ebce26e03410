// The adversarial suite's main: raises the descriptor limit first (children
// inherit it), so that a scenario of a few thousand connections runs where
// the hard limit allows, and skips with a reason where it does not.

#include <gtest/gtest.h>

#include "adversarial.hpp"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  switchboard::test::fd_limit();
  return RUN_ALL_TESTS();
}
