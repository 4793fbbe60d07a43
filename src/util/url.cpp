#include "groupwatch/util/url.hpp"

#include <boost/url/encode.hpp>
#include <boost/url/grammar/lut_chars.hpp>
#include <boost/url/pct_string_view.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>

namespace groupwatch {

namespace urls = boost::urls;

void append_percent_encoded(std::string& out, std::string_view s, std::string_view keep) {
  urls::grammar::lut_chars plain = urls::unreserved_chars;
  for (char c : keep) plain = plain + urls::grammar::lut_chars(c);
  urls::encode(s, plain, {}, urls::string_token::append_to(out));
}

std::string percent_encode(std::string_view s) {
  std::string out;
  append_percent_encoded(out, s);
  return out;
}

std::optional<std::string> percent_decode(std::string_view s) {
  auto checked = urls::make_pct_string_view(s);
  if (!checked) return std::nullopt;
  return checked->decode();
}

}  // namespace groupwatch
