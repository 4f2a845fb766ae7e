// HttpRouter (http_router.h): segment-by-segment matching of the patterns.
#include "serving/http/http_router.h"

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace rankopt {
namespace {

// Matches one pattern segment; a capture goes to `params`.
bool MatchSegment(absl::string_view pattern, absl::string_view segment, HttpRouteParams* params) {
  if (!absl::StartsWith(pattern, "{")) return pattern == segment;
  const size_t close = pattern.find('}');
  if (close == absl::string_view::npos) return false;
  const absl::string_view name = pattern.substr(1, close - 1);
  const absl::string_view verb = pattern.substr(close + 1);  // "" or ":predict"
  if (!absl::ConsumeSuffix(&segment, verb)) return false;
  if (segment.empty() || absl::StrContains(segment, ':')) return false;
  params->Set(std::string(name), std::string(segment));
  return true;
}

}  // namespace

absl::string_view HttpRouteParams::Get(absl::string_view name) const {
  for (const auto& [n, v] : values_) {
    if (n == name) return v;
  }
  return {};
}

void HttpRouter::Add(std::string method, std::string pattern, HttpHandler handler,
                     bool run_inline) {
  routes_.push_back({std::move(method), std::move(pattern), std::move(handler), run_inline});
}

const HttpRoute* HttpRouter::Match(absl::string_view method, absl::string_view path,
                                   HttpRouteParams* params) const {
  const std::vector<absl::string_view> segments = absl::StrSplit(path, '/');
  for (const HttpRoute& route : routes_) {
    if (route.method != method) continue;
    const std::vector<absl::string_view> want = absl::StrSplit(route.pattern, '/');
    if (want.size() != segments.size()) continue;
    params->Clear();
    bool ok = true;
    for (size_t i = 0; ok && i < want.size(); ++i) ok = MatchSegment(want[i], segments[i], params);
    if (ok) return &route;
  }
  params->Clear();
  return nullptr;
}

}  // namespace rankopt
