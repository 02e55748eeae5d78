# TransomCargo.cmake - build the transom crate with cargo from CMake.
#
# transom_cargo_library(PROFILE <cargo profile> TARGET_DIR <CARGO_TARGET_DIR>
#                       OUTPUT_DIR <dir> VERSION <x.y.z> SOVERSION <abi>)
#
# At configure time the crate is built once with
#     cargo rustc --profile <p> --lib -- --print native-static-libs
# to capture the native libraries the static library needs (rustc prints them only when it
# links a staticlib). The build step runs exactly the same command, so it shares cargo's
# fingerprint: nothing is compiled twice, and when the crate is fresh cargo replays the cached
# note. (`cargo build` would work too, but its different rustc arguments would make cargo
# rebuild the crate after every configure.)
#
# The build step (target `transom_cargo`, always run; cargo decides what is stale) then copies
# the artifacts into OUTPUT_DIR with their installed names:
#     libtransom.so.<VERSION>   (SONAME libtransom.so.<SOVERSION>, set by build.rs: SOVERSION is
#                                the ABI id, 0.<minor> before 1.0 and <major> from 1.0 on)
#     libtransom.so.<SOVERSION> -> libtransom.so.<VERSION>
#     libtransom.so             -> libtransom.so.<SOVERSION>
#     libtransom.a
# so that programs linked in the build tree find the SONAME next to the library.
#
# The same target then builds the command-line tool (`cargo build --bin transom-store`) and
# copies it to <build dir>/bin/transom-store. It builds in its own CARGO_TARGET_DIR
# (<TARGET_DIR>/tool): the extra rustc argument of the library's command is part of cargo's
# fingerprint, so building the binary (which compiles the library as a dependency, without that
# argument) in the same target dir would make each of the two commands recompile the crate
# every time. Two target dirs compile the crate once each, then both are fresh.
#
# Sets in the caller's scope: TRANSOM_SHARED_FILE, TRANSOM_SHARED_SONAME, TRANSOM_SHARED_LINKS,
# TRANSOM_STATIC_FILE, TRANSOM_NATIVE_STATIC_LIBS (a list of linker flags, e.g. -lgcc_s;-lm),
# TRANSOM_TOOL_FILE (<build dir>/bin/transom-store).

include_guard(GLOBAL)

function(transom_cargo_library)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "PROFILE;TARGET_DIR;OUTPUT_DIR;VERSION;SOVERSION" "")
  foreach(_required PROFILE TARGET_DIR OUTPUT_DIR VERSION SOVERSION)
    if(NOT DEFINED arg_${_required} OR arg_${_required} STREQUAL "")
      message(FATAL_ERROR "transom_cargo_library: ${_required} is required")
    endif()
  endforeach()
  if(NOT CMAKE_SYSTEM_NAME STREQUAL "Linux")
    message(FATAL_ERROR "transom's CMake build supports Linux (ELF shared libraries) only")
  endif()

  find_program(TRANSOM_CARGO cargo
    HINTS "$ENV{CARGO_HOME}/bin" "$ENV{HOME}/.cargo/bin"
    DOC "cargo, used to build the transom crate"
    REQUIRED)

  # cargo's output directory for a profile: dev -> debug, test -> debug, bench -> release.
  if(arg_PROFILE STREQUAL "dev" OR arg_PROFILE STREQUAL "test")
    set(_profile_dir debug)
  elseif(arg_PROFILE STREQUAL "bench")
    set(_profile_dir release)
  else()
    set(_profile_dir "${arg_PROFILE}")
  endif()

  set(_manifest "${PROJECT_SOURCE_DIR}/Cargo.toml")
  set(_cargo_cmd
    "${CMAKE_COMMAND}" -E env "CARGO_TARGET_DIR=${arg_TARGET_DIR}"
    "${TRANSOM_CARGO}" rustc --profile "${arg_PROFILE}" --lib --manifest-path "${_manifest}"
    -- --print native-static-libs)

  # --- configure time: build once and capture the native static libs --------------------------
  message(STATUS "transom: building the crate with cargo (profile ${arg_PROFILE}) to capture "
                 "its native static libs; the first run compiles everything")
  execute_process(
    COMMAND ${_cargo_cmd}
    WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
    RESULT_VARIABLE _rc
    OUTPUT_VARIABLE _out
    ERROR_VARIABLE _err
    ECHO_ERROR_VARIABLE)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "transom: `cargo rustc --profile ${arg_PROFILE} --lib` failed (${_rc})")
  endif()
  if(NOT _err MATCHES "native-static-libs: ([^\r\n]*)")
    message(FATAL_ERROR "transom: cargo did not print the native static libs "
                        "(is `staticlib` still in [lib] crate-type?)")
  endif()
  string(STRIP "${CMAKE_MATCH_1}" _libs)
  separate_arguments(_libs UNIX_COMMAND "${_libs}")

  # --- build time: the same command, then the artifacts under their installed names ---------
  set(_built "${arg_TARGET_DIR}/${_profile_dir}")
  set(_out "${arg_OUTPUT_DIR}")
  set(_real "libtransom.so.${arg_VERSION}")
  set(_soname "libtransom.so.${arg_SOVERSION}")
  set(_tool_cmd
    "${CMAKE_COMMAND}" -E env "CARGO_TARGET_DIR=${arg_TARGET_DIR}/tool"
    "${TRANSOM_CARGO}" build --profile "${arg_PROFILE}" --bin transom-store
    --manifest-path "${_manifest}")
  set(_tool "${CMAKE_BINARY_DIR}/bin/transom-store")
  add_custom_target(transom_cargo ALL
    COMMAND ${_cargo_cmd}
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${_out}"
    COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${_built}/libtransom.so" "${_out}/${_real}"
    COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${_built}/libtransom.a" "${_out}/libtransom.a"
    COMMAND "${CMAKE_COMMAND}" -E create_symlink "${_real}" "${_out}/${_soname}"
    COMMAND "${CMAKE_COMMAND}" -E create_symlink "${_soname}" "${_out}/libtransom.so"
    COMMAND ${_tool_cmd}
    COMMAND "${CMAKE_COMMAND}" -E make_directory "${CMAKE_BINARY_DIR}/bin"
    COMMAND "${CMAKE_COMMAND}" -E copy_if_different
            "${arg_TARGET_DIR}/tool/${_profile_dir}/transom-store" "${_tool}"
    BYPRODUCTS "${_out}/${_real}" "${_out}/${_soname}" "${_out}/libtransom.so"
               "${_out}/libtransom.a" "${_tool}"
    WORKING_DIRECTORY "${PROJECT_SOURCE_DIR}"
    COMMENT "cargo rustc --profile ${arg_PROFILE} --lib (CARGO_TARGET_DIR=${arg_TARGET_DIR}); cargo build --bin transom-store (CARGO_TARGET_DIR=${arg_TARGET_DIR}/tool)"
    USES_TERMINAL
    VERBATIM)

  set(TRANSOM_SHARED_FILE "${_out}/${_real}" PARENT_SCOPE)
  set(TRANSOM_SHARED_SONAME "${_soname}" PARENT_SCOPE)
  set(TRANSOM_SHARED_LINKS "${_out}/${_soname}" "${_out}/libtransom.so" PARENT_SCOPE)
  set(TRANSOM_STATIC_FILE "${_out}/libtransom.a" PARENT_SCOPE)
  set(TRANSOM_NATIVE_STATIC_LIBS "${_libs}" PARENT_SCOPE)
  set(TRANSOM_TOOL_FILE "${_tool}" PARENT_SCOPE)
endfunction()
