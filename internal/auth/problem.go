package auth

import (
	"encoding/json"
	"errors"
	"net/http"
)

// problemBase prefixes problem type URIs; it is internal/api's, so the
// auth routes answer with the same stable types as every other route.
const problemBase = "https://cmlcm.dev/problems/"

// Problem types of the auth handlers (slugs under problemBase).
const (
	problemUnauthenticated = "unauthenticated"
	problemForbidden       = "forbidden"
	problemInvalid         = "invalid-request"
	problemLogin           = "login-failed"
	problemUpstream        = "upstream-failure"
	problemUnavailable     = "unavailable"
	problemInternal        = "internal"
)

// writeProblem writes an RFC 9457 problem details answer.
func writeProblem(w http.ResponseWriter, status int, slug, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type": problemBase + slug, "title": title, "status": status, "detail": detail,
	})
}

// writeAuthError answers an Authenticator error: 401 with a
// WWW-Authenticate challenge, or 403 for a missing anti-CSRF header.
func writeAuthError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrCSRF):
		writeProblem(w, http.StatusForbidden, problemForbidden, "The request is not allowed for this identity", err.Error())
	case errors.Is(err, ErrUnavailable):
		writeProblem(w, http.StatusServiceUnavailable, problemUnavailable, "The operation is not available", err.Error())
	case errors.Is(err, ErrNoCredentials):
		w.Header().Set("WWW-Authenticate", Challenge(err))
		writeProblem(w, http.StatusUnauthorized, problemUnauthenticated, "Authentication is required", "sign in, or send a bearer token")
	case IsInvalid(err):
		w.Header().Set("WWW-Authenticate", Challenge(err))
		writeProblem(w, http.StatusUnauthorized, problemUnauthenticated, "Authentication is required", "the credentials are not valid: "+err.Error())
	default:
		writeProblem(w, http.StatusInternalServerError, problemInternal, "Internal server error", "authentication failed")
	}
}

// WriteUnauthenticated answers err from Authenticator.Authenticate as the
// route middleware should: 401 + WWW-Authenticate, 403 for ErrCSRF, 503
// for ErrUnavailable.
func WriteUnauthenticated(w http.ResponseWriter, err error) { writeAuthError(w, err) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
