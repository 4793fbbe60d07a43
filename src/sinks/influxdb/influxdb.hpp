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
#include "groupwatch/tencent/request.hpp"

namespace groupwatch::sinks::influxdb {

/// http(s)://host[:port][/prefix] (tencent::parse_endpoint); nullopt with
/// `error` set otherwise, in the sink's words ("url has no host").
std::optional<tencent::Endpoint> parse_url(std::string_view text, std::string* error);

struct Settings {
  std::string url;
  tencent::Endpoint parsed;  // base_path: before /write, without a trailing '/'
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
