# Installation: the library, the miniport-facing and host headers, a
# pkg-config file and a CMake package for out-of-tree miniports, the ustor
# command, the built-in miniport modules and the man page.
include(CMakePackageConfigHelpers)

set(USTOR_INSTALL_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR}/ustorport)
set(USTOR_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/ustorport)
set(USTOR_INSTALL_MINIPORTDIR ${CMAKE_INSTALL_LIBDIR}/ustorport/miniports)

install(TARGETS ustorport EXPORT ustorportTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# WDK-named headers (storport.h, srb.h, ...) and the host API (ustor/*.h).
file(GLOB _ustor_wdk_headers ${PROJECT_SOURCE_DIR}/include/*.h)
file(GLOB _ustor_host_headers ${PROJECT_SOURCE_DIR}/include/ustor/*.h)
install(FILES ${_ustor_wdk_headers} DESTINATION ${USTOR_INSTALL_INCLUDEDIR})
install(FILES ${_ustor_host_headers} DESTINATION ${USTOR_INSTALL_INCLUDEDIR}/ustor)

# pkg-config: prefix relative to the .pc file's own directory.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(USTOR_PC_RELPREFIX "")
  message(WARNING "ustorport.pc: CMAKE_INSTALL_LIBDIR is absolute; the .pc file will not be relocatable")
else()
  file(RELATIVE_PATH USTOR_PC_RELPREFIX "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
  string(REGEX REPLACE "/$" "" USTOR_PC_RELPREFIX "${USTOR_PC_RELPREFIX}")
endif()
if(CMAKE_DL_LIBS)
  set(USTOR_PC_DL "-l${CMAKE_DL_LIBS}")
else()
  set(USTOR_PC_DL "")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/ustorport.pc.in ${CMAKE_BINARY_DIR}/ustorport.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/ustorport.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# CMake package: ustorport::ustorport
install(EXPORT ustorportTargets NAMESPACE ustorport:: DESTINATION ${USTOR_INSTALL_CMAKEDIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/ustorportConfig.cmake.in
  ${CMAKE_BINARY_DIR}/ustorportConfig.cmake
  INSTALL_DESTINATION ${USTOR_INSTALL_CMAKEDIR}
  PATH_VARS USTOR_INSTALL_MINIPORTDIR)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/ustorportConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/ustorportConfig.cmake ${CMAKE_BINARY_DIR}/ustorportConfigVersion.cmake
  DESTINATION ${USTOR_INSTALL_CMAKEDIR})

if(TARGET ustor)
  install(TARGETS ustor RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

# Built-in miniports as loadable modules (lib<name>.so under
# ${CMAKE_BINARY_DIR}/miniports); collected at install time because their
# target names belong to miniports/CMakeLists.txt.
install(CODE "
  file(GLOB_RECURSE _ustor_modules \"${CMAKE_BINARY_DIR}/miniports/lib*.so\")
  if(_ustor_modules)
    file(INSTALL \${_ustor_modules} DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${USTOR_INSTALL_MINIPORTDIR}\")
  endif()
")

if(EXISTS ${PROJECT_SOURCE_DIR}/man/ustor.1)
  install(FILES ${PROJECT_SOURCE_DIR}/man/ustor.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
endif()
