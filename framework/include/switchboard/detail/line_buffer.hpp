#pragma once
// Internal: the read buffer behind both stream readers, the blocking
// StreamReader and the coroutine handlers' reader: where a receive lands,
// where the next line ends, and max_line, in one place. It parses bytes a
// peer controls; tests/fuzz/line_reader_fuzz.cpp runs it through both readers.

#include <cstddef>
#include <memory>
#include <string_view>

namespace switchboard::detail {

class LineBuffer {
 public:
  /// `max_line`: readline()'s limit, counting the '\n' (0: none);
  /// `first_capacity`: the first allocation, made at the first receive.
  LineBuffer(std::size_t max_line, std::size_t first_capacity)
      : max_line_(max_line), first_capacity_(first_capacity) {}
  /// Holds `data` as if received (a datagram), without copying it twice.
  LineBuffer(std::string_view data, std::size_t max_line);

  /// Bytes buffered and not yet taken.
  std::size_t buffered() const { return end_ - begin_; }
  std::size_t max_line() const { return max_line_; }

  /// The length (with its '\n') of the first buffered line, or 0 if no whole
  /// line is buffered yet. Throws LineTooLong once the line exceeds
  /// max_line: a '\n' past the limit, or more than max_line bytes with none
  /// (a last line of exactly max_line bytes and no '\n' is allowed).
  /// Resumes its scan where the last call left it.
  std::size_t next_line();
  /// Takes the next `n` buffered bytes; valid until the next room().
  std::string_view take(std::size_t n);

  /// Where the next receive may write (moving the unread bytes to the front
  /// or growing first if need be): at least one byte, at most `most`. A
  /// receive that filled the whole buffer grows it (up to `most`) even when
  /// its bytes were taken: a peer sending more than the buffer holds then
  /// costs a receive per `most` bytes, not per first_capacity.
  char* room(std::size_t most, std::size_t& size);
  /// The receive wrote `n` bytes at room().
  void filled(std::size_t n) {
    end_ += n;
    was_full_ = end_ == capacity_;
  }
  /// Forgets what is buffered (a request cut short is no request).
  void discard() { begin_ = end_ = scanned_ = 0; }
  /// Gives the memory back (a connection parked between requests); only when nothing is buffered.
  void release();

 private:
  std::unique_ptr<char[]> data_;
  std::size_t capacity_ = 0;
  std::size_t begin_ = 0, end_ = 0;  // [begin_, end_) unread
  std::size_t scanned_ = 0;          // next_line() found no '\n' before this
  std::size_t max_line_;
  std::size_t first_capacity_ = 0;
  bool was_full_ = false;  // the last receive filled the buffer
};

}  // namespace switchboard::detail
