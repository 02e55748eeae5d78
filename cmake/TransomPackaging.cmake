# TransomPackaging.cmake - CPack: a Debian package pair built from the install components.
#
#   cmake -S . -B build/deb -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=Release
#   cmake --build build/deb && (cd build/deb && cpack -G DEB)
#
# libtransom<abi>  the versioned shared library and its SONAME link (component `runtime`);
#                  named after the SONAME as Debian policy asks: libtransom.so.0.2 ->
#                  libtransom0.2 (TRANSOM_ABI, CMakeLists.txt), so runtime packages of
#                  different ABIs install side by side
# libtransom-dev   header(s), static library, unversioned link, CMake package, pkg-config
#                  file, the transom-store tool in bin/ (component `dev`); depends on the
#                  exact runtime version (and on what the tool links: libc6, libgcc-s1)
#
# With CMAKE_INSTALL_PREFIX=/usr, GNUInstallDirs picks Debian's multiarch libdir
# (lib/<triplet>), which is what the packages ship.
#
# Neither package has conffiles or maintainer scripts, so `dpkg -r` removes it completely
# (nothing is left in the "config-files" state for `dpkg -P`): the loader's cache is refreshed
# by an ldconfig trigger, and the runtime package's Depends come from dpkg-shlibdeps run at
# packaging time (cmake/TransomCPackProject.cmake.in).

set(_deb_version "${PROJECT_VERSION}-1")
set(_runtime_pkg "libtransom${TRANSOM_ABI}")

# Debian wants a copyright file and a compressed changelog in every package's doc directory.
set(_deb_doc "${CMAKE_BINARY_DIR}/debian-doc")
file(MAKE_DIRECTORY "${_deb_doc}")
string(TIMESTAMP _deb_date "%a, %d %b %Y %H:%M:%S +0000" UTC)
file(WRITE "${_deb_doc}/changelog.Debian"
  "transom (${_deb_version}) unstable; urgency=medium\n\n"
  "  * Release ${PROJECT_VERSION}, packaged with CPack.\n\n"
  " -- transom developers <transom-dev@lists.transom.invalid>  ${_deb_date}\n")
find_program(TRANSOM_GZIP gzip)
if(TRANSOM_GZIP)
  execute_process(COMMAND "${TRANSOM_GZIP}" -9nf "${_deb_doc}/changelog.Debian"
                  RESULT_VARIABLE _gz)
endif()
foreach(_component runtime dev)
  if(_component STREQUAL "runtime")
    set(_pkg "${_runtime_pkg}")
  else()
    set(_pkg "libtransom-dev")
  endif()
  install(FILES "${CMAKE_CURRENT_SOURCE_DIR}/cmake/debian/copyright"
          DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/doc/${_pkg}" COMPONENT ${_component}
          EXCLUDE_FROM_ALL)
  if(EXISTS "${_deb_doc}/changelog.Debian.gz")
    install(FILES "${_deb_doc}/changelog.Debian.gz"
            DESTINATION "${CMAKE_INSTALL_DATAROOTDIR}/doc/${_pkg}" COMPONENT ${_component}
            EXCLUDE_FROM_ALL)
  endif()
endforeach()

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "transom")
set(CPACK_PACKAGE_VENDOR "transom developers")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "transom developers <transom-dev@lists.transom.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "slot memory managers, supervised actors and an event store (C ABI)")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_STRIP_FILES ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://crates.io/crates/transom")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME "${_runtime_pkg}")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION "libs")
# Not CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS: with it CPack also adds postinst/postrm scripts,
# and a package with a postrm stays "rc" after `dpkg -r`. The same dpkg-shlibdeps runs at
# packaging time instead and sets CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS.
configure_file("${CMAKE_CURRENT_SOURCE_DIR}/cmake/TransomCPackProject.cmake.in"
               "${CMAKE_BINARY_DIR}/TransomCPackProject.cmake" @ONLY)
set(CPACK_PROJECT_CONFIG_FILE "${CMAKE_BINARY_DIR}/TransomCPackProject.cmake")
# shlibs (`libtransom <abi> libtransom<abi> (>= <version>)`: the SONAME libtransom.so.<abi> split
# into name and version, as dpkg-shlibdeps looks it up) and an ldconfig trigger as control files
# (CPack's own GENERATE_SHLIBS would add postinst/postrm scripts calling ldconfig, which Debian
# replaced with the trigger).
set(_deb_control "${CMAKE_BINARY_DIR}/debian-control")
file(MAKE_DIRECTORY "${_deb_control}")
file(WRITE "${_deb_control}/shlibs"
  "libtransom ${TRANSOM_ABI} ${_runtime_pkg} (>= ${PROJECT_VERSION})\n")
file(WRITE "${_deb_control}/triggers" "activate-noawait ldconfig\n")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA "${_deb_control}/shlibs;${_deb_control}/triggers")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
"runtime building blocks for C, C++ and Python - shared library
transom provides slot memory managers (store a message, get a token, read or
free it by token from any thread), supervised conversation actors whose
participant crashes are reported through callbacks, and an embedded event
store whose canals hand out batches to consumer threads.
.
This package contains the shared library.")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME "libtransom-dev")
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION "libdevel")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${_runtime_pkg} (= ${_deb_version})")
set(CPACK_DEBIAN_DEV_DESCRIPTION
"runtime building blocks for C, C++ and Python - development files
transom provides slot memory managers, supervised conversation actors and an
embedded event store behind one C ABI.
.
This package contains the C header, the header-only C++ wrapper, the static
library, the CMake package (find_package(Transom)), the pkg-config file and
transom-store, the command-line tool to inspect, verify, dump, truncate and
recover a store directory.")

include(CPack)
