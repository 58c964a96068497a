#pragma once

#include <string_view>

namespace civitas::jsonld {

// The text of the NGSI-LD core context v1.9 (data/jsonld/ngsi-ld-core-context-v1.9.jsonld),
// embedded at build time by embed_file.cmake. Static storage; never fetched.
std::string_view CoreContextDocument();

}  // namespace civitas::jsonld
