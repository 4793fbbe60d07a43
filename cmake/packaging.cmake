# Deployment files and the Debian package (included at the end of the top-level CMakeLists.txt).
#
#   cmake --install build --prefix /tmp/root     the tree below, relative to the prefix
#   (cd build && cpack -G DEB)                   groupwatch_<version>_<arch>.deb
#
# Layout (relative to the prefix; the binaries and etc/groupwatch/groupwatch.yaml come from the
# top-level CMakeLists.txt):
#   lib/systemd/system/groupwatch.service
#   etc/groupwatch/watchlists/example.txt        (the example config names it)
#   share/doc/groupwatch/                        README.md, the Grafana dashboard, Docker files
# The .deb is rooted at /usr, except etc/ which moves to /etc (see gw_deb_layout.cmake below).

install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/groupwatch.service DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/config/watchlists/example.txt DESTINATION etc/groupwatch/watchlists)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/groupwatch)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/grafana/groupwatch-dashboard.json
        DESTINATION share/doc/groupwatch/examples/grafana)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/deploy/grafana/provisioning
        DESTINATION share/doc/groupwatch/examples/grafana)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/docker/Dockerfile ${PROJECT_SOURCE_DIR}/deploy/docker/compose.yaml
              ${PROJECT_SOURCE_DIR}/deploy/docker/groupwatch.yaml ${PROJECT_SOURCE_DIR}/deploy/docker/prometheus.yml
        DESTINATION share/doc/groupwatch/examples/docker)

# ---- CPack: DEB --------------------------------------------------------------------------
set(gw_deb_dir ${PROJECT_BINARY_DIR}/deb)

# The install rules put the config under <prefix>/etc; a Debian package keeps it in /etc.
# This runs in CPack's staging tree after the install and before the package is made.
file(WRITE ${gw_deb_dir}/gw_deb_layout.cmake [=[
set(root "${CPACK_TEMPORARY_INSTALL_DIRECTORY}")
if(EXISTS "${root}/usr/etc")
  file(MAKE_DIRECTORY "${root}/etc")
  file(RENAME "${root}/usr/etc/groupwatch" "${root}/etc/groupwatch")
  file(REMOVE_RECURSE "${root}/usr/etc")
endif()
]=])

# Files in /etc are the administrator's: dpkg keeps local changes on upgrade.
file(WRITE ${gw_deb_dir}/conffiles "/etc/groupwatch/groupwatch.yaml\n/etc/groupwatch/watchlists/example.txt\n")
file(WRITE ${gw_deb_dir}/postinst [=[#!/bin/sh
set -e
# Pick up the new unit; never start or restart here: the config needs the operator first.
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
]=])
file(WRITE ${gw_deb_dir}/prerm [=[#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop groupwatch.service >/dev/null 2>&1 || true
  systemctl disable groupwatch.service >/dev/null 2>&1 || true
fi
exit 0
]=])
file(WRITE ${gw_deb_dir}/postrm [=[#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
]=])
file(CHMOD ${gw_deb_dir}/postinst ${gw_deb_dir}/prerm ${gw_deb_dir}/postrm
     PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME groupwatch)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "groupwatch")
set(CPACK_PACKAGE_CONTACT "groupwatch maintainers <groupwatch@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Keeps the online-member counts of Tencent Cloud Chat Community groups fresh")
set(CPACK_PACKAGE_DESCRIPTION
    "groupwatch polls get_online_member_num for thousands of Community groups within the vendor's
200 requests/s cap and writes the results to SQLite, NDJSON, PostgreSQL, InfluxDB or Prometheus.
Includes a systemd unit and groupwatch-emulator, a local stand-in for the vendor's endpoint.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PRE_BUILD_SCRIPTS ${gw_deb_dir}/gw_deb_layout.cmake)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# The same runtime libraries as the Docker image (scripts/check-docker-libs keeps that list exact).
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.36), libstdc++6 (>= 12), libgcc-s1, libssl3, libyaml-cpp0.7, libfmt9, libsimdjson14, libsqlite3-0, libpq5, zlib1g, ca-certificates")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${gw_deb_dir}/conffiles ${gw_deb_dir}/postinst ${gw_deb_dir}/prerm
    ${gw_deb_dir}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
