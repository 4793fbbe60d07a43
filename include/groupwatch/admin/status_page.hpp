#pragma once
// The self-contained status page served at "/" (inline CSS and JS; it polls
// /api/status).
#include <string_view>

namespace groupwatch::admin {

std::string_view status_page_html();

}  // namespace groupwatch::admin
