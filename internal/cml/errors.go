package cml

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Kinds of failure callers branch on with errors.Is.
var (
	// ErrUnauthorized: bad credentials (CML answers 403 to a login), an
	// expired token that a fresh login did not cure, or a user without
	// the rights (403).
	ErrUnauthorized = errors.New("cml: unauthorized")
	// ErrNotFound: the lab (or other object) does not exist (404).
	ErrNotFound = errors.New("cml: not found")
	// ErrConflict: the controller cannot do it now (409), e.g. a licence
	// registration already in progress.
	ErrConflict = errors.New("cml: conflict")
	// ErrBadRequest: CML refused the request (400/422), e.g. wiping a
	// running lab, deleting one that is not wiped, an invalid topology or
	// a start beyond the licensed node count.
	ErrBadRequest = errors.New("cml: bad request")
	// ErrUnavailable: the controller did not answer usefully — 5xx after
	// the retries, a connection error, a timeout, or not ready.
	ErrUnavailable = errors.New("cml: unavailable")
)

// APIError is a reply with an error status. Its description is CML's
// {"code", "description"} text.
type APIError struct {
	Method      string
	Path        string // relative to /api/v0/
	Status      int
	Description string
}

func (e *APIError) Error() string {
	desc := e.Description
	if desc == "" {
		desc = http.StatusText(e.Status)
	}
	return fmt.Sprintf("cml: %s %s: %d: %s", e.Method, e.Path, e.Status, desc)
}

// Unwrap maps the status to one of the error kinds.
func (e *APIError) Unwrap() error {
	switch {
	case e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden:
		return ErrUnauthorized
	case e.Status == http.StatusNotFound:
		return ErrNotFound
	case e.Status == http.StatusConflict:
		return ErrConflict
	case e.Status >= 500:
		return ErrUnavailable
	case e.Status >= 400:
		return ErrBadRequest
	}
	return nil
}

func newAPIError(method, path string, status int, body []byte) *APIError {
	e := &APIError{Method: method, Path: path, Status: status}
	var eb struct {
		Description string `json:"description"`
		Detail      any    `json:"detail"` // FastAPI's own errors (e.g. 422)
	}
	if json.Unmarshal(body, &eb) == nil {
		e.Description = eb.Description
		if e.Description == "" && eb.Detail != nil {
			e.Description = fmt.Sprint(eb.Detail)
		}
	}
	if e.Description == "" {
		// nginx error pages and the like: keep a readable excerpt.
		e.Description = strings.TrimSpace(string(body))
		if len(e.Description) > 200 {
			e.Description = e.Description[:200] + "…"
		}
	}
	return e
}

// TransportError is a call that got no HTTP reply: connection refused or
// reset, TLS failure (including a pin mismatch), or a timeout. It is
// ErrUnavailable and also wraps the cause (e.g. context.DeadlineExceeded).
type TransportError struct {
	Method string
	URL    string
	Err    error
}

func (e *TransportError) Error() string {
	return fmt.Sprintf("cml: %s %s: %v", e.Method, e.URL, e.Err)
}

// Unwrap exposes both ErrUnavailable and the cause.
func (e *TransportError) Unwrap() []error { return []error{ErrUnavailable, e.Err} }
