# asio and moodycamel's concurrentqueue are header-only Debian packages that
# ship no CMake package: find their headers and wrap them in imported targets.
find_package(Threads REQUIRED)

find_path(ASIO_INCLUDE_DIR asio.hpp)
if(NOT ASIO_INCLUDE_DIR)
  message(FATAL_ERROR "asio.hpp not found: install the Debian package libasio-dev "
                      "(scripts/setup.sh does), or set ASIO_INCLUDE_DIR.")
endif()
add_library(switchboard_asio INTERFACE IMPORTED)
target_include_directories(switchboard_asio SYSTEM INTERFACE ${ASIO_INCLUDE_DIR})
# The installed package's switchboard::asio repeats these definitions
# (switchboardConfig.cmake.in): a consumer's coroutine handlers must compile
# asio the way the library did.
set(SWITCHBOARD_ASIO_DEFINITIONS
    ASIO_STANDALONE ASIO_NO_DEPRECATED
    # Asio picks aligned_alloc()/free() or operator new/delete for its
    # recycled handler memory from _GLIBCXX_HAVE_ALIGNED_ALLOC, which a file
    # that includes asio before any standard header has not seen yet: two
    # files then compile asio's inline aligned_new()/aligned_delete()
    # differently, and memory from one is freed by the other (ASan:
    # alloc-dealloc-mismatch, in the reactor). glibc has aligned_alloc().
    ASIO_HAS_STD_ALIGNED_ALLOC=1
    # Asio 1.22 looks for co_await support under clang only with libc++'s
    # <experimental/coroutine>; clang 14 with libstdc++'s <coroutine> has it.
    $<$<CXX_COMPILER_ID:Clang>:ASIO_HAS_CO_AWAIT=1>)
target_compile_definitions(switchboard_asio INTERFACE ${SWITCHBOARD_ASIO_DEFINITIONS})
target_link_libraries(switchboard_asio INTERFACE Threads::Threads)

find_path(CONCURRENTQUEUE_INCLUDE_DIR concurrentqueue/blockingconcurrentqueue.h)
if(NOT CONCURRENTQUEUE_INCLUDE_DIR)
  message(FATAL_ERROR "concurrentqueue/blockingconcurrentqueue.h not found: install the Debian "
                      "package libconcurrentqueue-dev (scripts/setup.sh does), or set "
                      "CONCURRENTQUEUE_INCLUDE_DIR.")
endif()
add_library(switchboard_concurrentqueue INTERFACE IMPORTED)
target_include_directories(switchboard_concurrentqueue SYSTEM INTERFACE ${CONCURRENTQUEUE_INCLUDE_DIR})

# libsystemd (Debian's libsystemd-dev): socket activation and sd_notify
# (switchboard/systemd.hpp). Linked privately; a consumer of a static
# libswitchboard gets -lsystemd from the installed package, which finds it
# again (switchboardConfig.cmake.in).
find_path(SYSTEMD_INCLUDE_DIR systemd/sd-daemon.h)
find_library(SYSTEMD_LIBRARY systemd)
if(NOT SYSTEMD_INCLUDE_DIR OR NOT SYSTEMD_LIBRARY)
  message(FATAL_ERROR "systemd/sd-daemon.h or libsystemd not found: install the Debian package "
                      "libsystemd-dev (scripts/setup.sh does), or set SYSTEMD_INCLUDE_DIR and "
                      "SYSTEMD_LIBRARY.")
endif()
# The name the installed package defines too: the export names it.
add_library(switchboard::systemd UNKNOWN IMPORTED)
set_target_properties(switchboard::systemd PROPERTIES
  IMPORTED_LOCATION "${SYSTEMD_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${SYSTEMD_INCLUDE_DIR}")
