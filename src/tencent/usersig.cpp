#include "groupwatch/tencent/usersig.hpp"
#include "groupwatch/util/base64.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

#include <simdjson.h>
#include <array>
#include <limits>

#include "groupwatch/util/names.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::tencent {
namespace {

// A UserSig is a few hundred bytes; these bounds only stop abuse (zip bombs,
// huge query strings) before any work is done.
constexpr std::size_t max_usersig_chars = std::size_t{16} * 1024;
constexpr std::size_t max_inflated_bytes = std::size_t{64} * 1024;

// Tencent's url-safe base64 writes '*', '-' and '_' where base64 writes '+', '/' and '='.
constexpr std::string_view base64_only = "+/=";
constexpr std::string_view url_safe_only = "*-_";

// Swaps each character of `from` in s for the one at its place in `to`. A character of `to` already
// in s means s was not written in the alphabet of `from`: nullopt.
std::optional<std::string> swap_alphabet(std::string_view s, std::string_view from, std::string_view to) {
  std::string out(s);
  for (char& c : out) {
    if (const auto i = from.find(c); i != std::string_view::npos)
      c = to[i];
    else if (to.find(c) != std::string_view::npos)
      return std::nullopt;
  }
  return out;
}

std::optional<std::string> zlib_compress(std::string_view in) {
  uLongf len = compressBound(static_cast<uLong>(in.size()));
  std::string out(len, '\0');
  int rc = compress2(reinterpret_cast<Bytef*>(out.data()), &len, reinterpret_cast<const Bytef*>(in.data()),
                     static_cast<uLong>(in.size()), Z_BEST_COMPRESSION);
  if (rc != Z_OK) return std::nullopt;
  out.resize(len);
  return out;
}

std::optional<std::string> zlib_inflate(std::string_view in) {
  z_stream zs{};
  if (inflateInit(&zs) != Z_OK) return std::nullopt;
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  std::array<char, 4096> buf;
  int rc = Z_OK;
  while (rc == Z_OK) {
    zs.next_out = reinterpret_cast<Bytef*>(buf.data());
    zs.avail_out = static_cast<uInt>(buf.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf.data(), buf.size() - zs.avail_out);
    if (out.size() > max_inflated_bytes)
      rc = Z_MEM_ERROR;
    else if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0)
      rc = Z_BUF_ERROR;  // truncated stream
  }
  bool trailing = zs.avail_in != 0;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || trailing) return std::nullopt;
  return out;
}

std::string hmac_content(std::string_view identifier, std::uint64_t sdkappid, std::int64_t time, std::int64_t expire,
                         const std::optional<std::string>& userbuf_b64) {
  std::string content;
  content.append("TLS.identifier:").append(identifier).append("\n");
  content.append("TLS.sdkappid:").append(std::to_string(sdkappid)).append("\n");
  content.append("TLS.time:").append(std::to_string(time)).append("\n");
  content.append("TLS.expire:").append(std::to_string(expire)).append("\n");
  if (userbuf_b64) content.append("TLS.userbuf:").append(*userbuf_b64).append("\n");
  return content;
}

std::string hmac_base64(std::string_view key, std::string_view content) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int md_len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), md.data(), &md_len);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(md.data()), md_len));
}

}  // namespace

constexpr std::array<std::string_view, 9> usersig_errors{"ok",
                                                         "not url-safe base64 (or truncated)",
                                                         "does not inflate (not a zlib stream)",
                                                         "not a JSON object with the TLSSigAPIv2 fields",
                                                         "TLS.ver is not 2.0",
                                                         "signature does not match the secret key",
                                                         "expired",
                                                         "made for another identifier",
                                                         "made for another sdkappid"};
static_assert(util::names_each(usersig_errors, UserSigError::wrong_sdkappid));

std::string_view to_string(UserSigError e) {
  return util::name_of(usersig_errors, e, "unknown");
}

std::string usersig_hmac(std::string_view secret_key, std::string_view identifier, std::uint64_t sdkappid,
                         std::int64_t time, std::int64_t expire, std::optional<std::string_view> userbuf) {
  std::optional<std::string> ub;
  if (userbuf) ub = base64_encode(*userbuf);
  return hmac_base64(secret_key, hmac_content(identifier, sdkappid, time, expire, ub));
}

std::string make_usersig(std::string_view secret_key, std::uint64_t sdkappid, std::string_view identifier,
                         std::int64_t ttl_seconds, std::int64_t now_unix) {
  std::string sig = usersig_hmac(secret_key, identifier, sdkappid, now_unix, ttl_seconds);
  std::string json = "{\"TLS.ver\":\"2.0\",\"TLS.identifier\":";
  append_json_string(json, identifier);
  json.append(",\"TLS.sdkappid\":").append(std::to_string(sdkappid));
  json.append(",\"TLS.expire\":").append(std::to_string(ttl_seconds));
  json.append(",\"TLS.time\":").append(std::to_string(now_unix));
  json.append(",\"TLS.sig\":");
  append_json_string(json, sig);
  json.push_back('}');
  auto z = zlib_compress(json);
  if (!z) return {};  // only on allocation failure inside zlib
  // base64 writes none of "*-_", so the swap never refuses it.
  return swap_alphabet(base64_encode(*z), base64_only, url_safe_only).value_or("");
}

DecodeResult decode_usersig(std::string_view usersig) {
  DecodeResult r;
  if (usersig.empty() || usersig.size() > max_usersig_chars) {
    r.error = UserSigError::bad_base64;
    return r;
  }
  auto std_b64 = swap_alphabet(usersig, url_safe_only, base64_only);
  std::optional<std::string> raw;
  if (std_b64) raw = base64_decode(*std_b64);
  if (!raw) {
    r.error = UserSigError::bad_base64;
    return r;
  }
  auto json = zlib_inflate(*raw);
  if (!json) {
    r.error = UserSigError::bad_zlib;
    return r;
  }

  r.error = UserSigError::bad_json;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(*json).get(doc) != simdjson::SUCCESS) return r;
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return r;
  DecodedUserSig& s = r.sig;
  std::string_view sv;
  if (obj["TLS.ver"].get_string().get(sv) != simdjson::SUCCESS) return r;
  s.version = sv;
  if (obj["TLS.identifier"].get_string().get(sv) != simdjson::SUCCESS) return r;
  s.identifier = sv;
  if (obj["TLS.sdkappid"].get_uint64().get(s.sdkappid) != simdjson::SUCCESS) return r;
  if (obj["TLS.time"].get_int64().get(s.time) != simdjson::SUCCESS || s.time < 0) return r;
  if (obj["TLS.expire"].get_int64().get(s.expire) != simdjson::SUCCESS || s.expire < 0) return r;
  if (obj["TLS.sig"].get_string().get(sv) != simdjson::SUCCESS) return r;
  s.sig = sv;
  auto userbuf = obj["TLS.userbuf"];
  if (userbuf.error() != simdjson::NO_SUCH_FIELD) {
    if (userbuf.get_string().get(sv) != simdjson::SUCCESS) return r;
    auto bytes = base64_decode(sv);
    if (!bytes) return r;
    s.userbuf = std::move(*bytes);
    s.userbuf_b64 = std::string(sv);
  }
  r.error = s.version == "2.0" ? UserSigError::none : UserSigError::wrong_version;
  return r;
}

UserSigError verify_usersig(std::string_view usersig, std::string_view secret_key, std::uint64_t sdkappid,
                            std::string_view identifier, std::int64_t now_unix) {
  DecodeResult d = decode_usersig(usersig);
  if (d.error != UserSigError::none) return d.error;
  const DecodedUserSig& s = d.sig;
  std::string expected =
      hmac_base64(secret_key, hmac_content(s.identifier, s.sdkappid, s.time, s.expire, s.userbuf_b64));
  if (expected.size() != s.sig.size() || CRYPTO_memcmp(expected.data(), s.sig.data(), expected.size()) != 0) {
    return UserSigError::bad_signature;
  }
  if (s.identifier != identifier) return UserSigError::wrong_identifier;
  if (s.sdkappid != sdkappid) return UserSigError::wrong_sdkappid;
  // Both are non-negative here; a sum beyond int64 is a sig that never expires.
  std::int64_t until = 0;
  if (!__builtin_add_overflow(s.time, s.expire, &until) && until < now_unix) return UserSigError::expired;
  return UserSigError::none;
}

}  // namespace groupwatch::tencent
