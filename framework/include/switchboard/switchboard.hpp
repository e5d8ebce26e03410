#pragma once
// Everything: servers, handlers and the policies. (Coroutine handlers, which
// need Asio, are in switchboard/coroutine.hpp.)

#include "switchboard/address.hpp"
#include "switchboard/client.hpp"
#include "switchboard/forking.hpp"
#include "switchboard/handler.hpp"
#include "switchboard/make_server.hpp"
#include "switchboard/options.hpp"
#include "switchboard/reactor.hpp"
#include "switchboard/server.hpp"
#include "switchboard/signals.hpp"
#include "switchboard/socket.hpp"
#include "switchboard/stats.hpp"
#include "switchboard/systemd.hpp"
#include "switchboard/thread_pool.hpp"
#include "switchboard/threading.hpp"
