#pragma once
// Percent-encoding (RFC 3986, section 2.1), done by Boost.URL: query values in
// the vendor's target and in InfluxDB's write URL, and their decoding in the
// emulator.
#include <optional>
#include <string>
#include <string_view>

namespace groupwatch {

/// Appends `s` to `out` with every byte but the unreserved ones
/// (A-Z a-z 0-9 - . _ ~) and those in `keep` written as %XX (upper-case hex).
void append_percent_encoded(std::string& out, std::string_view s, std::string_view keep = {});
std::string percent_encode(std::string_view s);

/// Strict: nullopt when a '%' is not followed by two hex digits. '+' stays '+'.
std::optional<std::string> percent_decode(std::string_view s);

}  // namespace groupwatch
