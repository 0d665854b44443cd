package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/weavetrace/weave/server/auth"
	"github.com/weavetrace/weave/server/store"
)

// Error codes of the error envelope. Each maps to one HTTP status in
// statusByCode, the one table the API uses.
const (
	CodeInvalidArgument      = "invalid_argument"
	CodeUnauthenticated      = "unauthenticated"
	CodePermissionDenied     = "permission_denied"
	CodeNotFound             = "not_found"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeCanceled             = "canceled"
	CodeTimeout              = "timeout"
	CodeInternal             = "internal"
	CodeUnimplemented        = "unimplemented"
)

// StatusClientClosedRequest is the status logged (never seen by the client)
// when the caller went away before the answer (nginx's 499).
const StatusClientClosedRequest = 499

var statusByCode = map[string]int{
	CodeInvalidArgument:      http.StatusBadRequest,
	CodeUnauthenticated:      http.StatusUnauthorized,
	CodePermissionDenied:     http.StatusForbidden,
	CodeNotFound:             http.StatusNotFound,
	CodeMethodNotAllowed:     http.StatusMethodNotAllowed,
	CodePayloadTooLarge:      http.StatusRequestEntityTooLarge,
	CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	CodeCanceled:             StatusClientClosedRequest,
	CodeTimeout:              http.StatusServiceUnavailable,
	CodeInternal:             http.StatusInternalServerError,
	CodeUnimplemented:        http.StatusNotImplemented,
}

// StatusOf returns the HTTP status of an error code (500 for an unknown one).
func StatusOf(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is an API error: the body of the error envelope
// {"error": {"code": …, "message": …, "field": …}}. Field names the request
// field at fault (a JSON path such as "filters[1].op"), when there is one.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	err     error  // the cause, for the log; never sent
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("api: %s: %s (field %s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("api: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.err }

// envelope is the JSON body of every error response.
type envelope struct {
	Error *Error `json:"error"`
}

// invalid returns a 400 naming field.
func invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidArgument, Field: field, Message: fmt.Sprintf(format, args...)}
}

// errorFrom turns any error into an API error, using the one table of
// error kinds: API errors as they are, request-body limits, auth, store and
// context errors by kind; anything else is internal (its text is logged, not
// sent).
func errorFrom(err error) *Error {
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &Error{Code: CodePayloadTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit), err: err}
	case errors.Is(err, auth.ErrUnauthenticated):
		return &Error{Code: CodeUnauthenticated, Message: err.Error(), err: err}
	case errors.Is(err, auth.ErrForbidden):
		return &Error{Code: CodePermissionDenied, Message: err.Error(), Field: "project_id", err: err}
	case errors.Is(err, store.ErrInvalid):
		return &Error{Code: CodeInvalidArgument, Message: err.Error(), err: err}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Code: CodeNotFound, Message: err.Error(), err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Code: CodeTimeout, Message: "the query took longer than the server allows; narrow it (time range, filters, limit)", err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Code: CodeCanceled, Message: "request canceled", err: err}
	}
	return &Error{Code: CodeInternal, Message: "internal error; the server log has the details", err: err}
}
