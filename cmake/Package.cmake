# Installation (`cmake --install`) and the Debian package (`cpack -G DEB` in the build directory):
# the binary, the migrations it embeds and the dashboards and rules (for reference, under
# share/tlsrpt), the commented settings file (a conffile), the systemd unit, the README and the
# copyright. The settings file and the unit go to /etc/tlsrpt and /lib/systemd/system whatever
# the prefix; the package's prefix is /usr.
include(GNUInstallDirs)
install(TARGETS tlsrpt RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/migrations/ DESTINATION ${CMAKE_INSTALL_DATADIR}/tlsrpt/migrations
  FILES_MATCHING PATTERN "*.sql")
# (the dashboards' type check installs node_modules in dashboards/types at test time: not shipped)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/dashboards/ DESTINATION ${CMAKE_INSTALL_DATADIR}/tlsrpt/dashboards
  USE_SOURCE_PERMISSIONS PATTERN types EXCLUDE)
install(FILES ${PROJECT_SOURCE_DIR}/server/dist/tlsrpt.toml DESTINATION /etc/tlsrpt)
install(FILES ${PROJECT_SOURCE_DIR}/server/dist/tlsrpt.service DESTINATION /lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/server/dist/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
# Debian wants a compressed changelog beside the copyright (changelog.gz: a native package).
set(TLSRPT_CHANGELOG ${CMAKE_BINARY_DIR}/changelog.gz)
add_custom_command(OUTPUT ${TLSRPT_CHANGELOG}
  COMMAND gzip -9 -n -c ${PROJECT_SOURCE_DIR}/server/dist/changelog > ${TLSRPT_CHANGELOG}
  DEPENDS ${PROJECT_SOURCE_DIR}/server/dist/changelog)
add_custom_target(tlsrpt_changelog ALL DEPENDS ${TLSRPT_CHANGELOG})
install(FILES ${TLSRPT_CHANGELOG} DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tlsrpt)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "tlsrpt maintainers <tlsrpt@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "SMTP TLS Reporting (RFC 8460) receiver and analysis")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "tlsrpt receives TLS-RPT reports by SMTP, IMAP and HTTPS, stores
them in PostgreSQL, and answers from them: an HTTP API, web pages,
Prometheus metrics, the posture of monitored domains (MTA-STS, TLS-RPT,
MX certificates, DANE) and whether a domain may enforce MTA-STS.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION mail)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Beyond the shared libraries: the user is made with adduser; the embedded database needs
# PostgreSQL's server; DNSSEC validation the root trust anchor; DKIM alignment the public suffix list.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, postgresql (>= 15) | postgresql-15, dns-root-data, publicsuffix")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/server/dist/postinst ${PROJECT_SOURCE_DIR}/server/dist/postrm
  ${PROJECT_SOURCE_DIR}/server/dist/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
include(CPack)
