# Run by ctest as `cmake -P`: installs BUILD_DIR into a fresh prefix, checks
# the files, then configures, builds and runs the consumer project against it.
cmake_minimum_required(VERSION 3.25)

string(RANDOM LENGTH 8 suffix)
set(tmp "${WORK_DIR}/run-${suffix}")
set(prefix "${tmp}/prefix")
file(REMOVE_RECURSE "${tmp}")
file(MAKE_DIRECTORY "${tmp}")

# Runs a command; on failure prints its output, removes tmp and fails the test.
function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    file(REMOVE_RECURSE "${tmp}")
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}")
  endif()
  string(STRIP "${out}" out)
  string(REGEX MATCH "[^\n]*$" last "${out}")
  message(STATUS "${what}: ok: ${last}")
endfunction()

function(fail msg)
  file(REMOVE_RECURSE "${tmp}")
  message(FATAL_ERROR "${msg}")
endfunction()

set(config_args)
if(BUILD_TYPE)
  set(config_args --config ${BUILD_TYPE})
endif()
run("cmake --install" ${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}" ${config_args})

# The layout a consumer (and a distribution package) relies on. With the
# samples (SWITCHBOARD_BUILD_SAMPLES) come the sample servers and client, for
# the load generator to drive.
set(expected ${INCLUDEDIR}/switchboard/switchboard.hpp
             ${INCLUDEDIR}/switchboard/server.hpp
             ${INCLUDEDIR}/switchboard/cli.hpp ${LIBDIR}/libswitchboard_cli.a
             ${LIBDIR}/cmake/switchboard/switchboardConfig.cmake
             ${LIBDIR}/cmake/switchboard/switchboardConfigVersion.cmake
             ${LIBDIR}/cmake/switchboard/switchboardTargets.cmake)
if(SAMPLES)
  list(APPEND expected bin/echo_server bin/timestamp_server bin/timestamp_client bin/custom_handler)
endif()
foreach(f ${expected})
  if(NOT EXISTS "${prefix}/${f}")
    fail("not installed: ${f}")
  endif()
endforeach()
file(GLOB libs "${prefix}/${LIBDIR}/libswitchboard.*")
if(NOT libs)
  fail("not installed: ${LIBDIR}/libswitchboard.a (or .so)")
endif()
# A consumer needs neither Asio, concurrentqueue nor CLI11, so public headers
# must not include them: they are the libraries' private business. The
# exception is the coroutine headers (coroutine.hpp), documented to need
# Asio, which no other header includes.
file(GLOB_RECURSE headers "${prefix}/${INCLUDEDIR}/switchboard/*")
foreach(h ${headers})
  get_filename_component(name "${h}" NAME)
  if(name STREQUAL "coroutine.hpp")
    continue()
  endif()
  file(STRINGS "${h}" private REGEX "#[ \t]*include[ \t]*[<\"](asio|concurrentqueue|CLI/)")
  if(private)
    fail("installed header ${h} includes a private dependency: ${private}")
  endif()
  file(STRINGS "${h}" coroutine REGEX "#[ \t]*include[ \t]*[<\"].*coroutine\\.hpp")
  if(coroutine)
    fail("installed header ${h} includes a coroutine header (Asio): ${coroutine}")
  endif()
endforeach()

# An installed sample runs from the prefix, naming itself as called.
if(SAMPLES)
  execute_process(COMMAND "${prefix}/bin/echo_server" --help RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "\nUsage: echo_server \\[OPTIONS\\]\n")
    fail("installed echo_server --help: exit ${rc}:\n${out}")
  endif()
endif()

# A sanitized library links only into a sanitized program.
set(sanitize_args)
if(SANITIZE_FLAGS)
  list(JOIN SANITIZE_FLAGS " " flags)
  set(sanitize_args "-DCMAKE_CXX_FLAGS=${flags}" "-DCMAKE_EXE_LINKER_FLAGS=${flags}")
endif()
# CMAKE_PREFIX_PATH, not switchboard_DIR: the test is that the search finds it.
run("consumer configure" ${CMAKE_COMMAND} -S "${CONSUMER_DIR}" -B "${tmp}/build" -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${BUILD_TYPE}" ${sanitize_args}
    "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)
file(STRINGS "${tmp}/build/CMakeCache.txt" found REGEX "^switchboard_DIR:")
if(NOT found STREQUAL "switchboard_DIR:PATH=${prefix}/${LIBDIR}/cmake/switchboard")
  fail("find_package(switchboard) found another copy: ${found}")
endif()
run("consumer build" ${CMAKE_COMMAND} --build "${tmp}/build" ${config_args})
run("consumer run" "${tmp}/build/consumer")
if(NOT EXISTS "${tmp}/build/coroutine_consumer")
  fail("switchboard::asio was not defined: the package config did not find Asio")
endif()
run("coroutine consumer run" "${tmp}/build/coroutine_consumer")

# switchboard::cli: a user's two-line main() has the samples' flags, checks
# them, and serves.
if(SAMPLES)
  if(NOT EXISTS "${tmp}/build/cli_consumer")
    fail("switchboard::cli was not exported: cli_consumer was not built")
  endif()
  execute_process(COMMAND "${tmp}/build/cli_consumer" --help RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0 OR NOT out MATCHES "Usage: cli_consumer" OR NOT out MATCHES "--policy")
    fail("cli_consumer --help: exit ${rc}:\n${out}")
  endif()
  execute_process(COMMAND "${tmp}/build/cli_consumer" --port 70000 RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 2 OR NOT out MATCHES "--port")
    fail("cli_consumer --port 70000: exit ${rc}, expected 2:\n${out}")
  endif()
  run("cli consumer serves" "${tmp}/build/cli_client" "${tmp}/build/cli_consumer")
endif()

file(REMOVE_RECURSE "${tmp}")
