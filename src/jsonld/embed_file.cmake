# Writes a C++ source that returns the contents of a file as a std::string_view (a raw string
# literal), so data files ship inside the binary and are never read or fetched at run time.
#
#   cmake -DINPUT=<file> -DOUTPUT=<file.cc> -DHEADER=<include> -DNAMESPACE=<ns> -DFUNCTION=<name>
#         -P embed_file.cmake
#
# The output is only rewritten when its content changes, so unchanged data does not recompile.
foreach(var INPUT OUTPUT HEADER NAMESPACE FUNCTION)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed_file.cmake: ${var} is not set")
  endif()
endforeach()

file(READ "${INPUT}" content)
set(delimiter "civitas_embed")
string(FIND "${content}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "embed_file.cmake: ${INPUT} contains the raw-string delimiter")
endif()

set(source "// Generated from ${INPUT} by embed_file.cmake. Do not edit.\n")
string(APPEND source "#include \"${HEADER}\"\n\n")
string(APPEND source "namespace ${NAMESPACE} {\n\n")
string(APPEND source "std::string_view ${FUNCTION}() {\n")
string(APPEND source "  static constexpr std::string_view kText = R\"${delimiter}(${content})${delimiter}\";\n")
string(APPEND source "  return kText;\n}\n\n}  // namespace ${NAMESPACE}\n")

file(WRITE "${OUTPUT}.tmp" "${source}")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
