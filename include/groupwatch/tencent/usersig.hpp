#pragma once
// TLSSigAPIv2 UserSig: generation from the app's secret key, and a decoder /
// verifier (used by the emulator and by tests). See docs: tencent-api.md.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace groupwatch::tencent {

/// base64(HMAC-SHA256(key bytes, content)) where content is the documented
/// "TLS.identifier:...\n" lines; `userbuf` (raw bytes) adds the userbuf line.
std::string usersig_hmac(std::string_view secret_key, std::string_view identifier, std::uint64_t sdkappid,
                         std::int64_t time, std::int64_t expire, std::optional<std::string_view> userbuf = {});

/// A complete UserSig (zlib + url-safe base64 with * - _) valid from `now_unix`
/// for `ttl_seconds`.
std::string make_usersig(std::string_view secret_key, std::uint64_t sdkappid, std::string_view identifier,
                         std::int64_t ttl_seconds, std::int64_t now_unix);

struct DecodedUserSig {
  std::string version;
  std::string identifier;
  std::uint64_t sdkappid = 0;
  std::int64_t time = 0;
  std::int64_t expire = 0;
  std::string sig;                         // base64 HMAC as carried
  std::optional<std::string> userbuf;      // decoded bytes, when present
  std::optional<std::string> userbuf_b64;  // TLS.userbuf as carried (what the HMAC covers)
};

enum class UserSigError {
  none,
  bad_base64,     // not the url-safe base64 alphabet, or truncated
  bad_zlib,       // does not inflate
  bad_json,       // not a JSON object with the documented fields and types
  wrong_version,  // TLS.ver is not "2.0"
  bad_signature,  // HMAC does not match the key
  expired,        // time + expire < now
  wrong_identifier,
  wrong_sdkappid,
};
std::string_view to_string(UserSigError e);

struct DecodeResult {
  UserSigError error = UserSigError::none;
  DecodedUserSig sig;
};
DecodeResult decode_usersig(std::string_view usersig);

/// Decodes and checks everything: signature with `secret_key`, identifier,
/// sdkappid, and expiry against `now_unix`.
UserSigError verify_usersig(std::string_view usersig, std::string_view secret_key, std::uint64_t sdkappid,
                            std::string_view identifier, std::int64_t now_unix);

}  // namespace groupwatch::tencent
