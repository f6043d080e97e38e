package api

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/fleet"
	"github.com/cmlcm/cmlcm/internal/lab"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/telemetry"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// ProblemBase prefixes every problem type URI. The URIs are stable
// identifiers (clients branch on them); docs/api.md describes each.
const ProblemBase = "https://cmlcm.dev/problems/"

// Problem types.
var (
	ProblemInvalid          = ProblemType{"invalid-request", "The request is invalid", http.StatusBadRequest}
	ProblemUnauthenticated  = ProblemType{"unauthenticated", "Authentication is required", http.StatusUnauthorized}
	ProblemForbidden        = ProblemType{"forbidden", "The request is not allowed for this identity", http.StatusForbidden}
	ProblemNotFound         = ProblemType{"not-found", "No such resource", http.StatusNotFound}
	ProblemMethod           = ProblemType{"method-not-allowed", "The method is not allowed on this resource", http.StatusMethodNotAllowed}
	ProblemTransition       = ProblemType{"illegal-transition", "The resource's state does not allow this", http.StatusConflict}
	ProblemAlreadyInState   = ProblemType{"already-in-state", "The resource is already in the requested state", http.StatusConflict}
	ProblemConcurrentUpdate = ProblemType{"concurrent-update", "The resource kept changing; try again", http.StatusConflict}
	ProblemTooLarge         = ProblemType{"body-too-large", "The request body is too large", http.StatusRequestEntityTooLarge}
	ProblemMediaType        = ProblemType{"unsupported-media-type", "The request body's media type is not supported", http.StatusUnsupportedMediaType}
	ProblemUpstream         = ProblemType{"upstream-failure", "A service the API depends on failed", http.StatusBadGateway}
	ProblemUnavailable      = ProblemType{"unavailable", "The operation is not available", http.StatusServiceUnavailable}
	ProblemInternal         = ProblemType{"internal", "Internal server error", http.StatusInternalServerError}
)

// ProblemTypes lists every problem type (the OpenAPI document and the docs
// name them).
var ProblemTypes = []ProblemType{ProblemInvalid, ProblemUnauthenticated, ProblemForbidden, ProblemNotFound,
	ProblemMethod, ProblemTransition, ProblemAlreadyInState, ProblemConcurrentUpdate, ProblemTooLarge,
	ProblemMediaType, ProblemUpstream, ProblemUnavailable, ProblemInternal}

// ProblemType is one kind of problem.
type ProblemType struct {
	Slug   string
	Title  string
	Status int
}

// URI is the problem's type URI.
func (p ProblemType) URI() string { return ProblemBase + p.Slug }

// Problem is an RFC 9457 problem details object.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail,omitempty"`
	Instance  string `json:"instance,omitempty"`
	RequestID string `json:"requestId,omitempty"`
	// Field names the request field at fault (invalid-request).
	Field string `json:"field,omitempty"`
}

// problemError carries a problem through a handler's error return.
type problemError struct {
	t      ProblemType
	detail string
	field  string
	err    error
}

func (e *problemError) Error() string { return e.detail }
func (e *problemError) Unwrap() error { return e.err }

func newProblem(t ProblemType, detail string) error { return &problemError{t: t, detail: detail} }

func badRequest(field, detail string) error {
	return &problemError{t: ProblemInvalid, field: field, detail: detail}
}

// classify maps an error to its problem. Only the classes below reach
// clients with their message; anything else is a 500 whose detail is
// generic (the log has the error).
func classify(err error) (ProblemType, string, string) {
	var pe *problemError
	if errors.As(err, &pe) {
		return pe.t, pe.detail, pe.field
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return ProblemTooLarge, err.Error(), ""
	}
	field := ""
	var fe *fleet.Error
	if errors.As(err, &fe) {
		field = fe.Field
	}
	var wv *worker.ValidationError
	if errors.As(err, &wv) {
		field = wv.Field
	}
	var sv *settings.ValidationError
	if errors.As(err, &sv) {
		field = sv.Field
	}
	switch {
	case errors.Is(err, fleet.ErrNotFound), errors.Is(err, eventstore.ErrNotFound), errors.Is(err, readmodel.ErrNotFound):
		return ProblemNotFound, err.Error(), ""
	case errors.Is(err, fleet.ErrInvalid), errors.Is(err, worker.ErrInvalid), errors.Is(err, settings.ErrInvalid),
		errors.Is(err, lab.ErrInvalid), errors.Is(err, telemetry.ErrInvalid), errors.Is(err, readmodel.ErrBadCursor):
		return ProblemInvalid, err.Error(), field
	case errors.Is(err, worker.ErrAlreadyInState):
		return ProblemAlreadyInState, err.Error(), ""
	case errors.Is(err, worker.ErrTransition), errors.Is(err, lab.ErrTransition), errors.Is(err, fleet.ErrConflict):
		return ProblemTransition, err.Error(), ""
	case errors.Is(err, eventstore.ErrConflict):
		return ProblemConcurrentUpdate, "the worker was changed by others too often; try again", ""
	case errors.Is(err, fleet.ErrUpstream):
		return ProblemUpstream, err.Error(), ""
	case errors.Is(err, fleet.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return ProblemUnavailable, err.Error(), ""
	}
	return ProblemInternal, "the server failed to handle the request; the request id identifies it in the logs", ""
}

// writeProblem answers with err as problem+json.
func writeProblem(w http.ResponseWriter, r *http.Request, err error) {
	t, detail, field := classify(err)
	if t == ProblemInternal || t == ProblemUpstream {
		logger(r.Context()).ErrorContext(r.Context(), "request failed", "err", err, "status", t.Status)
	}
	p := Problem{Type: t.URI(), Title: t.Title, Status: t.Status, Detail: detail, Instance: r.URL.Path,
		RequestID: requestID(r.Context()), Field: field}
	if t == ProblemUnauthenticated {
		v := `Bearer realm="cmlcm"`
		if !errors.Is(err, ErrNoCredentials) {
			v += `, error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", v)
	}
	if t == ProblemMethod {
		if pe := (*problemError)(nil); errors.As(err, &pe) && pe.field != "" {
			w.Header().Set("Allow", pe.field)
			p.Field = ""
		}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(t.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}
