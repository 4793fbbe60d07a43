# Deployment files and the Debian package (included at the end of the top-level CMakeLists.txt).
#
#   cmake --install build --prefix /tmp/root     the tree below, relative to the prefix
#   (cd build && cpack -G DEB)                   groupwatch_<version>_<arch>.deb
#
# Layout (relative to the prefix; the binaries and etc/groupwatch/groupwatch.yaml come from the
# top-level CMakeLists.txt):
#   lib/systemd/system/groupwatch.service        ExecStart and the config path follow the prefix
#   lib/sysusers.d/groupwatch.conf               the system user the unit runs as
#   etc/groupwatch/watchlists/example.txt        (the example config names it)
#   etc/groupwatch/groupwatch.env                the unit's environment (0600)
#   share/man/man1/groupwatch.1.gz               made from the binary's help texts
#   share/doc/groupwatch/                        README.md, docs, copyright, changelog, examples
# The .deb is rooted at /usr, except etc/ which moves to /etc (see gw_deb_layout.cmake below).
# systemd finds units under /usr/local/lib/systemd/system too, so the default prefix works;
# --prefix /usr gives the .deb's layout.

install(CODE "set(GW_UNIT_SOURCE \"${PROJECT_SOURCE_DIR}/deploy/systemd/groupwatch.service\")")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/install-unit.cmake)
install(FILES ${PROJECT_SOURCE_DIR}/deploy/systemd/groupwatch.sysusers DESTINATION lib/sysusers.d
        RENAME groupwatch.conf)
install(FILES ${PROJECT_SOURCE_DIR}/config/watchlists/example.txt DESTINATION etc/groupwatch/watchlists)
install(FILES ${PROJECT_SOURCE_DIR}/config/groupwatch.env DESTINATION etc/groupwatch
        PERMISSIONS OWNER_READ OWNER_WRITE)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION share/doc/groupwatch)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/ DESTINATION share/doc/groupwatch/docs FILES_MATCHING PATTERN "*.md")

# groupwatch(1), from the same help texts as --help, `help config` and `help sink TYPE`.
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/groupwatch.1.gz
  COMMAND ${PROJECT_SOURCE_DIR}/scripts/make-manpage $<TARGET_FILE:groupwatch> ${PROJECT_BINARY_DIR}/groupwatch.1
  COMMAND gzip -9nf ${PROJECT_BINARY_DIR}/groupwatch.1
  DEPENDS groupwatch ${PROJECT_SOURCE_DIR}/scripts/make-manpage
  COMMENT "Writing groupwatch(1) from the help texts")
add_custom_target(gw_manpage ALL DEPENDS ${PROJECT_BINARY_DIR}/groupwatch.1.gz)
install(FILES ${PROJECT_BINARY_DIR}/groupwatch.1.gz DESTINATION share/man/man1)

# Debian's copyright file (machine-readable) from LICENSE, and the changelog compressed as
# Debian policy wants it.
file(READ ${PROJECT_SOURCE_DIR}/LICENSE gw_license)
string(REGEX REPLACE "\n\n" "\n.\n" gw_license_body "${gw_license}")
string(REGEX REPLACE "\n" "\n " gw_license_body "${gw_license_body}")
file(WRITE ${PROJECT_BINARY_DIR}/deb/copyright
"Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: groupwatch

Files: *
Copyright: 2026 The groupwatch authors
License: Expat
 ${gw_license_body}
")
install(FILES ${PROJECT_BINARY_DIR}/deb/copyright DESTINATION share/doc/groupwatch)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/deb/changelog.gz
  COMMAND gzip -9n -c ${PROJECT_SOURCE_DIR}/deploy/debian/changelog > ${PROJECT_BINARY_DIR}/deb/changelog.gz
  DEPENDS ${PROJECT_SOURCE_DIR}/deploy/debian/changelog)
add_custom_target(gw_changelog ALL DEPENDS ${PROJECT_BINARY_DIR}/deb/changelog.gz)
install(FILES ${PROJECT_BINARY_DIR}/deb/changelog.gz DESTINATION share/doc/groupwatch)
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
file(WRITE ${gw_deb_dir}/conffiles
     "/etc/groupwatch/groupwatch.yaml\n/etc/groupwatch/groupwatch.env\n/etc/groupwatch/watchlists/example.txt\n")
file(WRITE ${gw_deb_dir}/postinst [=[#!/bin/sh
set -e
if [ "$1" = configure ]; then
  # The system user the unit runs as (sysusers.d/groupwatch.conf; useradd where systemd is absent).
  if command -v systemd-sysusers >/dev/null 2>&1; then
    systemd-sysusers groupwatch.conf
  elif ! getent passwd groupwatch >/dev/null; then
    useradd --system --user-group --home-dir /var/lib/groupwatch --no-create-home \
      --shell /usr/sbin/nologin --comment "groupwatch daemon" groupwatch
  fi
  # The key file the default config reads: the daemon's own, mode 0600, empty until the operator
  # writes the key into it (`groupwatch check` names it while it is empty).
  if [ ! -e /etc/groupwatch/secret_key ]; then
    install -m 0600 -o groupwatch -g groupwatch /dev/null /etc/groupwatch/secret_key
  fi
fi
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
# passwd: useradd, where systemd-sysusers is absent.
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "libc6 (>= 2.36), libstdc++6 (>= 12), libgcc-s1, libssl3, libyaml-cpp0.7, libfmt9, libsimdjson14, libsqlite3-0, libpq5, zlib1g, ca-certificates, passwd")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${gw_deb_dir}/conffiles ${gw_deb_dir}/postinst ${gw_deb_dir}/prerm
    ${gw_deb_dir}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
