# What an installed broker brings beside the binary, plugins, header and
# .pc: the systemd unit, the service's conf.d, the docs; and the .deb
# (`cpack -G DEB` in the build directory; docs/operators.md).
set(DSB_PKG_DIR ${PROJECT_SOURCE_DIR}/cmake/packaging)
# The configuration directory of an installed broker: /etc/dsbroker/conf.d
# (the binary's default, core/cli.c) for the /usr prefix the .deb installs
# into, PREFIX/etc/dsbroker/conf.d for any other (`cmake --install
# --prefix`) — nothing is written outside the prefix.  Decided at install
# time, as is the unit (cpack installs into /usr, whatever was configured).
set(DSB_ETC_CONF_DIR /etc/dsbroker/conf.d)
set(dsb_conf_of_prefix "
  if(CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
    set(d \"${DSB_ETC_CONF_DIR}\")
  else()
    set(d \"\${CMAKE_INSTALL_PREFIX}/etc/dsbroker/conf.d\")
  endif()")
install(CODE "${dsb_conf_of_prefix}
  set(DSB_BIN \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/dsbroker\")
  set(DSB_DOC_DIR \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}\")
  set(DSB_CONF_DIR \"\${d}\")
  configure_file(\"${DSB_PKG_DIR}/dsbroker.service.in\"
                 \"${PROJECT_BINARY_DIR}/packaging/dsbroker.service\" @ONLY)
")
install(FILES ${PROJECT_BINARY_DIR}/packaging/dsbroker.service
        DESTINATION lib/systemd/system)
# The service's broker.yaml and the source examples; an install never
# overwrites an operator's broker.yaml (the .deb marks it a conffile).
# (file(INSTALL) puts DESTDIR before an absolute destination itself.)
install(CODE "${dsb_conf_of_prefix}
  if(NOT EXISTS \"\$ENV{DESTDIR}\${d}/broker.yaml\")
    file(INSTALL \"${DSB_PKG_DIR}/broker.yaml\" DESTINATION \"\${d}\"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
  file(INSTALL \"${PROJECT_SOURCE_DIR}/conf.d/examples\" DESTINATION \"\${d}\")
")
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}
        FILES_MATCHING PATTERN "*.md" PATTERN "*.yaml")

# The .deb.  Shared-library dependencies come from dpkg-shlibdeps; the
# maintainer scripts make the users and the admin token (postinst) and
# remove them on purge (postrm).
file(GLOB dsb_examples RELATIVE ${PROJECT_SOURCE_DIR}/conf.d/examples
     ${PROJECT_SOURCE_DIR}/conf.d/examples/*)
set(dsb_conffiles "${DSB_ETC_CONF_DIR}/broker.yaml\n")
foreach(f ${dsb_examples})
  string(APPEND dsb_conffiles "${DSB_ETC_CONF_DIR}/examples/${f}\n")
endforeach()
file(WRITE ${PROJECT_BINARY_DIR}/packaging/conffiles "${dsb_conffiles}")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dsbroker)
set(CPACK_PACKAGE_VENDOR "dsbroker")
set(CPACK_PACKAGE_CONTACT "dsbroker maintainers <dsbroker@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "plugin-based data-source broker for Spark code-generation agents")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES OFF)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Beside the libraries: the users (adduser), confinement of local jobs
# (bubblewrap, setpriv from util-linux).  Spark itself is the operator's.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, bubblewrap, util-linux")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "postgresql-client, default-jre-headless")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${DSB_PKG_DIR}/postinst ${DSB_PKG_DIR}/prerm ${DSB_PKG_DIR}/postrm
    ${PROJECT_BINARY_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
