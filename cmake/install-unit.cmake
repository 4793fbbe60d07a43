# Install-time: writes the systemd unit with the paths of the prefix it is installed under
# (deploy/systemd/groupwatch.service names /usr/bin and /etc, the .deb's and --prefix /usr's
# layout). GW_UNIT_SOURCE is set by the install(CODE) before this script. CPack installs with
# the package's prefix (/usr) and its staging directory as DESTDIR.
set(prefix "${CMAKE_INSTALL_PREFIX}")
if(prefix STREQUAL "/usr")
  set(etc "/etc")
else()
  set(etc "${prefix}/etc")
endif()
file(READ "${GW_UNIT_SOURCE}" unit)
string(REPLACE "/usr/bin/groupwatch" "${prefix}/bin/groupwatch" unit "${unit}")
string(REPLACE "/etc/groupwatch/" "${etc}/groupwatch/" unit "${unit}")
set(dest "$ENV{DESTDIR}${prefix}/lib/systemd/system/groupwatch.service")
message(STATUS "Installing: ${dest} (ExecStart=${prefix}/bin/groupwatch, config in ${etc}/groupwatch)")
file(WRITE "${dest}" "${unit}")
