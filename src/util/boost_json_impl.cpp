// The one translation unit that compiles Boost.JSON (its header-only mode:
// Debian's libboost1.81-dev has the headers, no extra runtime library). It
// builds the small documents served beside the polling: /api/status and the
// emulator's stats.
#include <boost/json/src.hpp>
