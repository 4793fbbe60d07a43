# gw_stage(NAME DEPS ...): a static library gw_NAME from src/NAME/*.cpp with
# public headers in include/groupwatch/NAME/. Files are globbed so that a new
# source file needs no edit here.
function(gw_stage name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  if(NOT srcs)
    set(srcs ${PROJECT_SOURCE_DIR}/cmake/empty.cpp)
  endif()
  add_library(gw_${name} STATIC ${srcs})
  target_include_directories(gw_${name} PUBLIC ${PROJECT_SOURCE_DIR}/include PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(gw_${name} PUBLIC ${ARG_DEPS})
endfunction()

# Every folder under src/sinks/ is one sink that registers itself by its
# config `type:`. They are linked whole so that the static registrations stay.
function(gw_sinks)
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/sinks/*.cpp)
  add_library(gw_sinks_objs OBJECT ${srcs} ${PROJECT_SOURCE_DIR}/cmake/empty.cpp)
  target_include_directories(gw_sinks_objs PUBLIC ${PROJECT_SOURCE_DIR}/include PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(gw_sinks_objs PUBLIC gw_delivery gw_http SQLite::SQLite3 ZLIB::ZLIB)
  if(PostgreSQL_FOUND)
    target_link_libraries(gw_sinks_objs PUBLIC PostgreSQL::PostgreSQL)
  endif()
  add_library(gw_sinks INTERFACE)
  target_link_libraries(gw_sinks INTERFACE gw_sinks_objs $<TARGET_OBJECTS:gw_sinks_objs>)
endfunction()
