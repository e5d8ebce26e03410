#include "switchboard/handlers/daytime.hpp"

#include "switchboard/handlers/timestamp.hpp"

namespace switchboard::handlers {

void DaytimeStreamHandler::handle() { wfile.write(ctime_now() + "\r\n"); }

void DaytimeDatagramHandler::handle() { wfile.write(ctime_now() + "\r\n"); }

}  // namespace switchboard::handlers
