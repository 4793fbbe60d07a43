// A throwaway self-signed certificate for the emulator's TLS listener.
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <stdexcept>

#include "groupwatch/emulator/server.hpp"

namespace groupwatch::emulator {

namespace {
template <auto Fn>
struct Deleter {
  template <class T>
  void operator()(T* p) const {
    Fn(p);
  }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;

[[noreturn]] void fail(const char* what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  throw std::runtime_error(std::string("certificate generation: ") + what + ": " + buf);
}

void add_ext(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ex = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ex == nullptr) fail(value);
  const int ok = X509_add_ext(cert, ex, -1);
  X509_EXTENSION_free(ex);
  if (ok != 1) fail("X509_add_ext");
}

std::string bio_string(BIO* bio) {
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(n));
}
}  // namespace

CertificatePair generate_self_signed() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) fail("EC key");
  X509Ptr cert(X509_new());
  if (!cert) fail("X509_new");
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1) fail("version");

  BnPtr serial(BN_new());
  if (!serial || BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    fail("serial");
  }
  // A little slack before now for clocks that disagree.
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 30L * 24 * 3600) == nullptr) {
    fail("validity");
  }
  if (X509_set_pubkey(cert.get(), key.get()) != 1) fail("pubkey");
  X509_NAME* name = X509_get_subject_name(cert.get());
  const auto* cn = reinterpret_cast<const unsigned char*>("groupwatch-emulator");
  if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn, -1, -1, 0) != 1) fail("subject");
  if (X509_set_issuer_name(cert.get(), name) != 1) fail("issuer");
  // It is its own trust anchor (a client's ca_file) and the server's leaf.
  add_ext(cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  add_ext(cert.get(), NID_key_usage, "critical,digitalSignature,keyCertSign");
  add_ext(cert.get(), NID_ext_key_usage, "serverAuth");
  add_ext(cert.get(), NID_subject_key_identifier, "hash");
  add_ext(cert.get(), NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) fail("sign");

  CertificatePair out;
  BioPtr cbio(BIO_new(BIO_s_mem()));
  if (!cbio || PEM_write_bio_X509(cbio.get(), cert.get()) != 1) fail("PEM cert");
  out.cert_pem = bio_string(cbio.get());
  BioPtr kbio(BIO_new(BIO_s_mem()));
  if (!kbio || PEM_write_bio_PrivateKey(kbio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    fail("PEM key");
  }
  out.key_pem = bio_string(kbio.get());
  return out;
}

}  // namespace groupwatch::emulator
