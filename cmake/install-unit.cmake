# Install-time: writes the systemd unit with the paths of the prefix it is installed under
# (deploy/systemd/groupwatch.service names /usr/bin and /etc, the .deb's and --prefix /usr's
# layout). GW_UNIT_SOURCE is set by the install(CODE) before this script.
set(prefix "${CMAKE_INSTALL_PREFIX}")
# CPack stages the .deb under its own directory with the package's prefix, /usr, at the end.
if(DEFINED CPACK_PACKAGING_INSTALL_PREFIX OR prefix MATCHES "/_CPack_Packages/")
  set(prefix "/usr")
  set(dest_root "${CMAKE_INSTALL_PREFIX}")
else()
  set(dest_root "$ENV{DESTDIR}${CMAKE_INSTALL_PREFIX}")
endif()
if(prefix STREQUAL "/usr")
  set(etc "/etc")
else()
  set(etc "${prefix}/etc")
endif()
file(READ "${GW_UNIT_SOURCE}" unit)
string(REPLACE "/usr/bin/groupwatch" "${prefix}/bin/groupwatch" unit "${unit}")
string(REPLACE "/etc/groupwatch/" "${etc}/groupwatch/" unit "${unit}")
set(dest "${dest_root}/lib/systemd/system/groupwatch.service")
message(STATUS "Installing: ${dest} (ExecStart=${prefix}/bin/groupwatch, config in ${etc}/groupwatch)")
file(WRITE "${dest}" "${unit}")
