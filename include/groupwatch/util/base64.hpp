#pragma once
// Standard base64 (RFC 4648, with padding), done by OpenSSL: for UserSigs and
// HTTP Basic credentials.
#include <optional>
#include <string>
#include <string_view>

namespace groupwatch {

std::string base64_encode(std::string_view bytes);

/// Strict: only the standard alphabet, a length that is a multiple of 4 and
/// '=' padding at the very end; nullopt on anything else (whitespace too).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace groupwatch
