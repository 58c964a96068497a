#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace civitas {

// The NGSI-LD error kinds (clause 5.5.2 / 6.3.2). Each maps to one ProblemDetails type URI and one
// HTTP status in exactly one place: http_status.cc in src/api.
enum class ErrorCode {
  kOk = 0,
  kInvalidRequest,
  kBadRequestData,
  kAlreadyExists,
  kOperationNotSupported,  // 422: the operation is not supported for this resource
  kNotImplemented,         // 501 (type OperationNotSupported): a feature Civitas does not have yet
  kResourceNotFound,
  kInternalError,
  kTooComplexQuery,
  kTooManyResults,
  kLdContextNotAvailable,
  kNonexistentTenant,
  kNotAcceptable,          // 406
  kUnsupportedMediaType,   // 415
  kMethodNotAllowed,       // 405
  kPayloadTooLarge,        // 413
  kConflict,               // 409 (e.g. batch conflicts)
  kServiceUnavailable,     // 503 (shutting down, store closed)
};

// A value-type result of an operation: ok, or an error code with a human-readable detail.
// No exceptions cross subsystem boundaries; throwing third-party calls are wrapped where called.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string detail) : code_(code), detail_(std::move(detail)) {}

  static Status Ok() { return Status(); }
  static Status BadRequest(std::string d) { return {ErrorCode::kBadRequestData, std::move(d)}; }
  static Status InvalidRequest(std::string d) { return {ErrorCode::kInvalidRequest, std::move(d)}; }
  static Status NotFound(std::string d) { return {ErrorCode::kResourceNotFound, std::move(d)}; }
  static Status AlreadyExists(std::string d) { return {ErrorCode::kAlreadyExists, std::move(d)}; }
  static Status Internal(std::string d) { return {ErrorCode::kInternalError, std::move(d)}; }
  static Status NotSupported(std::string d) {
    return {ErrorCode::kOperationNotSupported, std::move(d)};
  }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& detail() const { return detail_; }

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string detail_;
};

// Either a value or an error Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<1>(v_);
  }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

#define CIVITAS_RETURN_IF_ERROR(expr)  \
  do {                                 \
    ::civitas::Status _st = (expr);    \
    if (!_st.ok()) return _st;         \
  } while (0)

}  // namespace civitas
