// The one translation unit that compiles Boost.URL (its header-only mode:
// Debian's libboost1.81-dev has the headers, no extra runtime library).
#include <boost/url/src.hpp>
