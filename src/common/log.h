#pragma once

#include <initializer_list>
#include <string_view>
#include <utility>

namespace civitas {

enum class LogLevel { kDebug, kInfo, kWarn, kError };

// Sets the minimum level written (thread-safe; read on every call).
void SetLogLevel(LogLevel level);
bool ParseLogLevel(std::string_view name, LogLevel* out);

// Writes one structured line to stderr: `ts=... level=info msg="..." key=value ...`. Values that
// contain spaces, quotes or '=' are quoted. One write(2) per line, so lines never interleave.
void Log(LogLevel level, std::string_view msg,
         std::initializer_list<std::pair<std::string_view, std::string_view>> fields = {});

}  // namespace civitas
