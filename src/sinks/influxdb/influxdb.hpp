#pragma once
// The influxdb sink's settings and its pure pieces (line protocol, gzip, the
// write request's target), internal to src/sinks/influxdb and its tests.
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "groupwatch/config/reader.hpp"
#include "groupwatch/delivery/result.hpp"
#include "groupwatch/delivery/sink.hpp"

namespace groupwatch::sinks::influxdb {

struct Url {
  bool tls = false;
  std::string host;    // without brackets for IPv6
  std::string port;    // "8086"; defaults to 80 / 443
  std::string prefix;  // path before /write, without a trailing '/' ("" or "/influx")
};
/// http(s)://host[:port][/prefix]; nullopt with `error` set otherwise.
std::optional<Url> parse_url(std::string_view text, std::string* error);

struct Settings {
  std::string url;
  Url parsed;
  int version = 1;
  // version 1
  std::string database;
  std::string username;
  std::string password;  // secret
  std::string retention_policy;
  // version 2
  std::string org;
  std::string bucket;
  std::string token;  // secret
  std::string measurement = "groupwatch";
  bool gzip = true;
  std::chrono::milliseconds timeout = std::chrono::seconds(10);
};

std::unique_ptr<delivery::SinkSpec> parse(config::MapReader& r);

/// One line of line protocol (with its trailing '\n'), millisecond precision:
/// measurement,app=A,group_id=G online_member_num=Ni,error_code=Ni,error_info="..." <ms>
/// online_member_num is left out on error rows (InfluxDB has no NULL).
void append_line(std::string& out, std::string_view measurement, const delivery::Result& r);
/// The path and query of the write request, e.g. /write?db=gw&precision=ms.
std::string write_target(const Settings& s);
/// RFC 1952 gzip of `data`.
std::string gzip(std::string_view data);

}  // namespace groupwatch::sinks::influxdb
