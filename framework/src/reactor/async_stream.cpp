// The coroutine handlers' streams (their state lives in AsyncConnection), and
// how a coroutine handler runs under the policies that are not the reactor:
// to the end, on the policy's thread, with an io_context of its own.

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <exception>
#include <stdexcept>

#include "async_connection.hpp"
#include "switchboard/coroutine.hpp"

namespace switchboard {

namespace {

detail::AsyncConnection& bound(detail::AsyncConnection* conn) {
  if (!conn)
    throw std::logic_error(
        "a coroutine handler's rfile/wfile is usable inside handle_async() only");
  return *conn;
}

asio::awaitable<void> run_to_end(AsyncStreamRequestHandler& h, detail::AsyncConnection& conn,
                                 detail::Sweeper& sweeper, std::exception_ptr& error) {
  try {
    co_await h.handle_async();
  } catch (...) {
    error = std::current_exception();
  }
  try {
    co_await conn.flush();  // what it wrote stays written, also after an error
  } catch (...) {
    if (!error) error = std::current_exception();
  }
  sweeper.stop();
}

}  // namespace

asio::awaitable<std::string> AsyncStreamReader::readline() { return bound(conn_).readline(); }
asio::awaitable<std::string_view> AsyncStreamReader::readline_view() {
  return bound(conn_).readline_view();
}
asio::awaitable<std::string> AsyncStreamReader::read(std::size_t n) { return bound(conn_).read(n); }
asio::awaitable<std::string> AsyncStreamReader::read_some(std::size_t max) {
  return bound(conn_).read_some(max);
}
asio::awaitable<std::string_view> AsyncStreamReader::read_some_view(std::size_t max) {
  return bound(conn_).read_some_view(max);
}
std::size_t AsyncStreamReader::buffered() const { return conn_ ? conn_->buffered() : 0; }

asio::awaitable<void> AsyncStreamWriter::write(std::string_view data) {
  return bound(conn_).write(data);
}
asio::awaitable<void> AsyncStreamWriter::flush() { return bound(conn_).flush(); }
std::size_t AsyncStreamWriter::buffered() const { return conn_ ? conn_->unsent() : 0; }

detail::BoundStreams::BoundStreams(AsyncStreamRequestHandler& handler, AsyncConnection& connection)
    : handler_(handler) {
  handler_.rfile.conn_ = handler_.wfile.conn_ = &connection;
}
detail::BoundStreams::~BoundStreams() { handler_.rfile.conn_ = handler_.wfile.conn_ = nullptr; }

void AsyncStreamRequestHandler::setup() {
  if (!request().connection)
    throw std::logic_error("AsyncStreamRequestHandler needs a stream server");
}

void AsyncStreamRequestHandler::handle() {
  Request& r = request();
  const ServerOptions& options = server().options();
  asio::io_context io(1);
  detail::Sweeper sweeper(io, options);
  detail::AsyncConnection conn(io, sweeper, r.connection.fd(), server().server_address().family(),
                               options, r.entry.get());
  conn.set_first_request_deadline(
      detail::AsyncConnection::first_request_deadline(options, std::chrono::steady_clock::now()));
  detail::BoundStreams bound(*this, conn);
  std::exception_ptr error;
  asio::co_spawn(io, run_to_end(*this, conn, sweeper, error), asio::detached);
  io.run();
  if (error) std::rethrow_exception(error);
}

void AsyncDatagramRequestHandler::handle() {
  asio::io_context io(1);
  std::exception_ptr error;
  asio::co_spawn(
      io,
      [this, &error]() -> asio::awaitable<void> {
        try {
          co_await handle_async();
        } catch (...) {
          error = std::current_exception();
        }
      },
      asio::detached);
  io.run();
  if (error) std::rethrow_exception(error);
}

}  // namespace switchboard
