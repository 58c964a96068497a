#include "api/problem.h"

#include <string_view>

namespace civitas::api {
namespace {

struct ErrorInfo {
  int status;
  std::string_view type;  // suffix after the NGSI-LD errors prefix
  std::string_view title;
};

ErrorInfo InfoOf(ErrorCode code) {
  switch (code) {
    case ErrorCode::kOk:
      return {200, "", ""};
    case ErrorCode::kInvalidRequest:
      return {400, "InvalidRequest", "Invalid request"};
    case ErrorCode::kBadRequestData:
      return {400, "BadRequestData", "Bad request data"};
    case ErrorCode::kAlreadyExists:
      return {409, "AlreadyExists", "Already exists"};
    case ErrorCode::kOperationNotSupported:
      return {422, "OperationNotSupported", "Operation not supported"};
    case ErrorCode::kNotImplemented:
      return {501, "OperationNotSupported", "Not implemented"};
    case ErrorCode::kResourceNotFound:
      return {404, "ResourceNotFound", "Resource not found"};
    case ErrorCode::kInternalError:
      return {500, "InternalError", "Internal error"};
    case ErrorCode::kTooComplexQuery:
      return {403, "TooComplexQuery", "Too complex query"};
    case ErrorCode::kTooManyResults:
      return {403, "TooManyResults", "Too many results"};
    case ErrorCode::kLdContextNotAvailable:
      return {503, "LdContextNotAvailable", "@context not available"};
    case ErrorCode::kNonexistentTenant:
      return {404, "NonexistentTenant", "Nonexistent tenant"};
    case ErrorCode::kNotAcceptable:
      return {406, "NotAcceptable", "Not acceptable"};
    case ErrorCode::kUnsupportedMediaType:
      return {415, "UnsupportedMediaType", "Unsupported media type"};
    case ErrorCode::kMethodNotAllowed:
      return {405, "MethodNotAllowed", "Method not allowed"};
    case ErrorCode::kPayloadTooLarge:
      return {413, "PayloadTooLarge", "Payload too large"};
    case ErrorCode::kConflict:
      return {409, "Conflict", "Conflict"};
    case ErrorCode::kServiceUnavailable:
      return {503, "ServiceUnavailable", "Service unavailable"};
  }
  return {500, "InternalError", "Internal error"};
}

}  // namespace

int HttpStatusOf(ErrorCode code) { return InfoOf(code).status; }

Json ProblemJson(const Status& status) {
  ErrorInfo info = InfoOf(status.code());
  Json body = Json::MakeObject();
  body.Set("type", "https://uri.etsi.org/ngsi-ld/errors/" + std::string(info.type));
  body.Set("title", std::string(info.title));
  body.Set("status", info.status);
  body.Set("detail", status.detail());
  return body;
}

http::Response ProblemResponse(const Status& status) {
  http::Response r;
  r.status = HttpStatusOf(status.code());
  r.AddHeader("Content-Type", "application/json");
  r.body = ToJsonString(ProblemJson(status));
  return r;
}

}  // namespace civitas::api
