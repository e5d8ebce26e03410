#pragma once
// The handler API: subclass one, override handle(), and hand
// switchboard::handler<YourHandler> to a server. One handler object serves one
// connection (or one datagram): setup(); handle(); finish().

#include <memory>
#include <string>

#include "switchboard/address.hpp"
#include "switchboard/request.hpp"
#include "switchboard/server.hpp"
#include "switchboard/stream.hpp"

namespace switchboard {

class BaseRequestHandler {
 public:
  virtual ~BaseRequestHandler() = default;
  /// Before handle(): prepare.
  virtual void setup() {}
  /// Serve the request.
  virtual void handle() {}
  /// After handle(), also when it threw: clean up.
  virtual void finish() {}

  Request& request() const { return *request_; }
  const Address& client_address() const { return request_->client_address; }
  BaseServer& server() const { return *server_; }

 private:
  friend class BaseServer;
  Request* request_ = nullptr;
  BaseServer* server_ = nullptr;
};

/// A connection with buffered rfile/wfile; wfile is flushed before every read
/// that waits and by finish().
class StreamRequestHandler : public BaseRequestHandler {
 public:
  void setup() override;
  void finish() override;

  StreamReader rfile;
  StreamWriter wfile;
};

/// One datagram: rfile reads packet(); what is written to wfile (an empty
/// write included) goes back to the sender as one datagram; nothing written,
/// nothing sent.
class DatagramRequestHandler : public BaseRequestHandler {
 public:
  void setup() override;
  void finish() override;
  const std::string& packet() const { return request().packet; }

  StreamReader rfile;
  StreamWriter wfile;
};

/// The factory that makes a default-constructed `Handler` per request.
template <class Handler>
inline const HandlerFactory handler =
    [] { return std::unique_ptr<BaseRequestHandler>(std::make_unique<Handler>()); };

}  // namespace switchboard
