#include "groupwatch/tencent/usersig.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace groupwatch::tencent {
namespace {

constexpr std::string_view key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
constexpr std::uint64_t appid = 1400000000;
constexpr std::int64_t t0 = 1700000000;
constexpr std::int64_t ttl = 15552000;

// An independent encoder for hand-made UserSigs: OpenSSL's base64 and zlib
// at a level the library does not use, so the test compares by decoding.
std::string encode_usersig(std::string_view json, int level = 1) {
  uLongf len = compressBound(static_cast<uLong>(json.size()));
  std::string z(len, '\0');
  EXPECT_EQ(compress2(reinterpret_cast<Bytef*>(z.data()), &len, reinterpret_cast<const Bytef*>(json.data()),
                      static_cast<uLong>(json.size()), level),
            Z_OK);
  z.resize(len);
  std::string b64(4 * ((z.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                          reinterpret_cast<const unsigned char*>(z.data()), static_cast<int>(z.size()));
  b64.resize(static_cast<std::size_t>(n));
  std::replace(b64.begin(), b64.end(), '+', '*');
  std::replace(b64.begin(), b64.end(), '/', '-');
  std::replace(b64.begin(), b64.end(), '=', '_');
  return b64;
}

std::string vector_json(std::string_view identifier, std::string_view sig, std::string_view extra = "") {
  return std::string("{ \"TLS.sig\" : \"") + std::string(sig) + "\", \"TLS.ver\": \"2.0\", \"TLS.identifier\": \"" +
         std::string(identifier) + "\", \"TLS.sdkappid\": 1400000000, \"TLS.time\": 1700000000, " +
         "\"TLS.expire\": 15552000" + std::string(extra) + "}";
}

TEST(UserSig, DocumentedTestVector) {
  EXPECT_EQ(usersig_hmac(key, "xiaojun", appid, t0, ttl), "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4=");
  EXPECT_EQ(usersig_hmac(key, "xiaojun", appid, t0, ttl, "abc"), "QjT201xPkXk/aM1e+y0vakZb0K2iPrFue++0s5y6bFM=");
}

TEST(UserSig, HmacDependsOnEveryInput) {
  std::string base = usersig_hmac(key, "xiaojun", appid, t0, ttl);
  EXPECT_NE(usersig_hmac(std::string(key) + "0", "xiaojun", appid, t0, ttl), base);
  EXPECT_NE(usersig_hmac(key, "xiaojuN", appid, t0, ttl), base);
  EXPECT_NE(usersig_hmac(key, "xiaojun", appid + 1, t0, ttl), base);
  EXPECT_NE(usersig_hmac(key, "xiaojun", appid, t0 + 1, ttl), base);
  EXPECT_NE(usersig_hmac(key, "xiaojun", appid, t0, ttl + 1), base);
  EXPECT_NE(usersig_hmac(key, "xiaojun", appid, t0, ttl, ""), base);  // an empty userbuf still adds its line
}

TEST(UserSig, MakeDecodeVerifyRoundTrip) {
  std::string sig = make_usersig(key, appid, "xiaojun", ttl, t0);
  ASSERT_FALSE(sig.empty());
  for (char c : sig) {
    bool url_safe =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '*' || c == '-' || c == '_';
    ASSERT_TRUE(url_safe) << "character '" << c << "' would need percent-encoding";
  }
  DecodeResult d = decode_usersig(sig);
  ASSERT_EQ(d.error, UserSigError::none);
  EXPECT_EQ(d.sig.version, "2.0");
  EXPECT_EQ(d.sig.identifier, "xiaojun");
  EXPECT_EQ(d.sig.sdkappid, appid);
  EXPECT_EQ(d.sig.time, t0);
  EXPECT_EQ(d.sig.expire, ttl);
  EXPECT_EQ(d.sig.sig, "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4=");
  EXPECT_FALSE(d.sig.userbuf.has_value());
  EXPECT_EQ(verify_usersig(sig, key, appid, "xiaojun", t0), UserSigError::none);
  EXPECT_EQ(verify_usersig(sig, key, appid, "xiaojun", t0 + ttl), UserSigError::none);  // last valid second
}

TEST(UserSig, IdentifierNeedingJsonEscapes) {
  const std::string id = "ad\"min\\ 管理员\n";
  std::string sig = make_usersig(key, appid, id, 3600, t0);
  DecodeResult d = decode_usersig(sig);
  ASSERT_EQ(d.error, UserSigError::none);
  EXPECT_EQ(d.sig.identifier, id);
  EXPECT_EQ(verify_usersig(sig, key, appid, id, t0 + 10), UserSigError::none);
}

TEST(UserSig, DecodesForeignEncodingAndUserbuf) {
  // Different spacing, field order and zlib level, as another implementation would write it.
  std::string plain = encode_usersig(vector_json("xiaojun", "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4="), 9);
  EXPECT_EQ(verify_usersig(plain, key, appid, "xiaojun", t0 + 1), UserSigError::none);

  std::string with_buf = encode_usersig(
      vector_json("xiaojun", "QjT201xPkXk/aM1e+y0vakZb0K2iPrFue++0s5y6bFM=", ", \"TLS.userbuf\": \"YWJj\""));
  DecodeResult d = decode_usersig(with_buf);
  ASSERT_EQ(d.error, UserSigError::none);
  ASSERT_TRUE(d.sig.userbuf.has_value());
  EXPECT_EQ(*d.sig.userbuf, "abc");
  EXPECT_EQ(verify_usersig(with_buf, key, appid, "xiaojun", t0 + 1), UserSigError::none);
}

TEST(UserSig, RejectsWrongKey) {
  std::string sig = make_usersig(key, appid, "xiaojun", ttl, t0);
  EXPECT_EQ(verify_usersig(sig, "another-secret-key", appid, "xiaojun", t0), UserSigError::bad_signature);
  EXPECT_EQ(verify_usersig(sig, "", appid, "xiaojun", t0), UserSigError::bad_signature);
}

TEST(UserSig, RejectsTamperedPayload) {
  // Same HMAC, but the identifier, expiry or userbuf changed after signing.
  const std::string good = "LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4=";
  EXPECT_EQ(verify_usersig(encode_usersig(vector_json("admin", good)), key, appid, "admin", t0),
            UserSigError::bad_signature);
  std::string longer = vector_json("xiaojun", good);
  longer.replace(longer.find("15552000"), 8, "99552000");
  EXPECT_EQ(verify_usersig(encode_usersig(longer), key, appid, "xiaojun", t0), UserSigError::bad_signature);
  EXPECT_EQ(verify_usersig(encode_usersig(vector_json("xiaojun", good, ", \"TLS.userbuf\": \"YWJj\"")), key, appid,
                           "xiaojun", t0),
            UserSigError::bad_signature);
  // A flipped character in the transport form never verifies.
  std::string sig = make_usersig(key, appid, "xiaojun", ttl, t0);
  for (std::size_t i = 0; i < sig.size(); i += 7) {
    std::string bent = sig;
    bent[i] = bent[i] == 'A' ? 'B' : 'A';
    EXPECT_NE(verify_usersig(bent, key, appid, "xiaojun", t0), UserSigError::none) << "position " << i;
  }
}

TEST(UserSig, RejectsExpired) {
  std::string sig = make_usersig(key, appid, "xiaojun", 60, t0);
  EXPECT_EQ(verify_usersig(sig, key, appid, "xiaojun", t0 + 60), UserSigError::none);
  EXPECT_EQ(verify_usersig(sig, key, appid, "xiaojun", t0 + 61), UserSigError::expired);
}

TEST(UserSig, RejectsWrongIdentifierAndSdkappid) {
  std::string sig = make_usersig(key, appid, "xiaojun", ttl, t0);
  EXPECT_EQ(verify_usersig(sig, key, appid, "administrator", t0), UserSigError::wrong_identifier);
  EXPECT_EQ(verify_usersig(sig, key, appid, "Xiaojun", t0), UserSigError::wrong_identifier);
  EXPECT_EQ(verify_usersig(sig, key, appid + 1, "xiaojun", t0), UserSigError::wrong_sdkappid);
}

TEST(UserSig, RejectsTruncated) {
  std::string sig = make_usersig(key, appid, "xiaojun", ttl, t0);
  for (std::size_t cut = 1; cut < sig.size(); ++cut) {
    EXPECT_NE(decode_usersig(sig.substr(0, sig.size() - cut)).error, UserSigError::none) << cut;
  }
  EXPECT_EQ(decode_usersig(sig.substr(0, sig.size() - 1)).error, UserSigError::bad_base64);
  std::size_t whole_groups = (sig.size() / 2) / 4 * 4;
  EXPECT_EQ(decode_usersig(sig.substr(0, whole_groups)).error, UserSigError::bad_zlib);
}

TEST(UserSig, RejectsNonBase64) {
  EXPECT_EQ(decode_usersig("").error, UserSigError::bad_base64);
  EXPECT_EQ(decode_usersig("not a usersig!").error, UserSigError::bad_base64);
  EXPECT_EQ(decode_usersig("eJyr+/8=").error, UserSigError::bad_base64);  // standard alphabet, not url-safe
  EXPECT_EQ(decode_usersig("ab_c").error, UserSigError::bad_base64);      // padding in the middle
  EXPECT_EQ(decode_usersig(std::string(20000, 'A')).error, UserSigError::bad_base64);
  EXPECT_EQ(decode_usersig("aGVsbG8gd29ybGQ_").error, UserSigError::bad_zlib);  // "hello world"
}

TEST(UserSig, RejectsBadJson) {
  EXPECT_EQ(decode_usersig(encode_usersig("not json")).error, UserSigError::bad_json);
  EXPECT_EQ(decode_usersig(encode_usersig("[1,2]")).error, UserSigError::bad_json);
  std::string as_string = vector_json("x", "s");
  as_string.replace(as_string.find("1400000000"), 10, "\"1400000000\"");
  EXPECT_EQ(decode_usersig(encode_usersig(as_string)).error, UserSigError::bad_json);
  std::string no_sig = R"({"TLS.ver":"2.0","TLS.identifier":"x","TLS.sdkappid":1,"TLS.expire":1,"TLS.time":1})";
  EXPECT_EQ(decode_usersig(encode_usersig(no_sig)).error, UserSigError::bad_json);
  std::string negative = vector_json("x", "s");
  negative.replace(negative.find("15552000"), 8, "-1");
  EXPECT_EQ(decode_usersig(encode_usersig(negative)).error, UserSigError::bad_json);
  std::string v1 = vector_json("x", "s");
  v1.replace(v1.find("\"2.0\""), 5, "\"1.0\"");
  EXPECT_EQ(decode_usersig(encode_usersig(v1)).error, UserSigError::wrong_version);
}

TEST(UserSig, ErrorNamesAreDistinct) {
  EXPECT_EQ(to_string(UserSigError::none), "ok");
  EXPECT_NE(to_string(UserSigError::expired), to_string(UserSigError::bad_signature));
}

// The Python verifier is an independent implementation of the same algorithm.
TEST(UserSig, IndependentPythonVerifierAgrees) {
  if (std::system("python3 -c '' >/dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not available";
  const std::string script = std::string(GW_SOURCE_DIR) + "/scripts/verify_usersig.py";
  auto run = [&](const std::string& sig, std::string_view k, std::uint64_t id, std::string_view ident,
                 std::int64_t now) {
    std::string cmd = "printf '%s' '" + sig + "' | python3 " + script + " --key '" + std::string(k) + "' --sdkappid " +
                      std::to_string(id) + " --identifier '" + std::string(ident) + "' --now " + std::to_string(now) +
                      " >/dev/null 2>&1";
    return std::system(cmd.c_str());
  };
  std::string sig = make_usersig(key, appid, "xiaojun", 600, t0);
  EXPECT_EQ(run(sig, key, appid, "xiaojun", t0 + 600), 0);
  EXPECT_NE(run(sig, key, appid, "xiaojun", t0 + 601), 0);
  EXPECT_NE(run(sig, "wrong", appid, "xiaojun", t0), 0);
  EXPECT_NE(run(sig, key, appid, "other", t0), 0);
  EXPECT_NE(run(sig, key, appid + 1, "xiaojun", t0), 0);
  EXPECT_NE(run(sig.substr(0, sig.size() - 4), key, appid, "xiaojun", t0), 0);
  std::string with_buf = encode_usersig(
      vector_json("xiaojun", "QjT201xPkXk/aM1e+y0vakZb0K2iPrFue++0s5y6bFM=", ", \"TLS.userbuf\": \"YWJj\""));
  EXPECT_EQ(run(with_buf, key, appid, "xiaojun", t0), 0);
}

}  // namespace
}  // namespace groupwatch::tencent
