# SWITCHBOARD_SANITIZE=address,undefined (or thread): the sanitizers for every
# target of this project, samples, tests and fuzz targets included. Applied as
# directory-wide options before any target exists, so a target added anywhere
# later gets them without asking. Clang 14 and GCC 12 both take these flags.
set(SWITCHBOARD_SANITIZE "" CACHE STRING
    "Sanitizers for every target: address,undefined | thread | empty for none")

set(SWITCHBOARD_SANITIZE_FLAGS "")
if(SWITCHBOARD_SANITIZE)
  string(REPLACE "," ";" sanitizers "${SWITCHBOARD_SANITIZE}")
  foreach(s IN LISTS sanitizers)
    if(NOT s MATCHES "^(address|undefined|thread)$")
      message(FATAL_ERROR "SWITCHBOARD_SANITIZE: '${s}' is not one of address, undefined, thread")
    endif()
  endforeach()
  if("thread" IN_LIST sanitizers AND "address" IN_LIST sanitizers)
    message(FATAL_ERROR "SWITCHBOARD_SANITIZE: thread and address cannot be combined")
  endif()
  set(SWITCHBOARD_SANITIZE_FLAGS -fsanitize=${SWITCHBOARD_SANITIZE} -fno-omit-frame-pointer)
  if("undefined" IN_LIST sanitizers)
    # Undefined behaviour stops the program, so a test (or CI) cannot miss it.
    list(APPEND SWITCHBOARD_SANITIZE_FLAGS -fno-sanitize-recover=undefined)
    # Except vptr, so that a test can suppress it (UBSan honours suppressions
    # only for recoverable checks): scripts/test.sh sets halt_on_error=1, which
    # stops the program at a vptr report all the same. The one suppression is
    # for a server starved of descriptors on purpose (tests/adversarial/emfile_test.cpp).
    list(APPEND SWITCHBOARD_SANITIZE_FLAGS -fsanitize-recover=vptr)
    if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 15)
      # clang 14 cannot emit -fsanitize=function's prologue for a coroutine
      # ("Cannot represent a difference across sections", the reactor's
      # async_stream.cpp); the check (a call through a mistyped function
      # pointer) is the one UBSan check left out.
      list(APPEND SWITCHBOARD_SANITIZE_FLAGS -fno-sanitize=function)
    endif()
  endif()
  add_compile_options(${SWITCHBOARD_SANITIZE_FLAGS})
  add_link_options(-fsanitize=${SWITCHBOARD_SANITIZE})
  message(STATUS "switchboard: sanitizers ${SWITCHBOARD_SANITIZE} on every target")
endif()

# libFuzzer: where clang builds with ASan, the fuzz targets (tests/fuzz/) are
# real fuzzers, and every target carries the coverage instrumentation that
# steers them (so the library's branches count, not only the harness's).
set(libfuzzer_default OFF)
if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND SWITCHBOARD_SANITIZE MATCHES "address")
  set(libfuzzer_default ON)
endif()
option(SWITCHBOARD_LIBFUZZER "Build the fuzz targets with libFuzzer (clang)" ${libfuzzer_default})
if(SWITCHBOARD_LIBFUZZER)
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
