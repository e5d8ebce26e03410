#pragma once
// Every reusable handler.

#include "switchboard/handlers/daytime.hpp"
#include "switchboard/handlers/discard.hpp"
#include "switchboard/handlers/echo.hpp"
#include "switchboard/handlers/timestamp.hpp"
