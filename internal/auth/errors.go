package auth

import (
	"errors"
	"fmt"
)

// Errors callers branch on.
var (
	// ErrNoCredentials: the request carries neither a session cookie nor a
	// bearer token. Answer 401 with a bare "WWW-Authenticate: Bearer".
	ErrNoCredentials = errors.New("no credentials")
	// ErrCSRF: a cookie-authenticated write without the right anti-CSRF
	// header. The identity is valid, the request is refused: 403.
	ErrCSRF = errors.New("missing or wrong " + CSRFHeader + " header on a cookie-authenticated write")
	// ErrSessionNotFound: the store has no (live) session under that key.
	ErrSessionNotFound = errors.New("session not found")
	// ErrNotConfigured: the OIDC login is not configured (bearer tokens only).
	ErrNotConfigured = errors.New("login is not configured")
	// ErrUnavailable: the session store failed; neither the credentials'
	// fault nor the caller's (503 / API Gateway 500).
	ErrUnavailable = errors.New("the session store is unavailable")
)

// unavailableError carries a store failure with a message safe to show.
type unavailableError struct{ err error }

func (e *unavailableError) Error() string   { return ErrUnavailable.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

func unavailable(err error) error { return &unavailableError{err: err} }

// logDetail is what logs say about err: for a store failure, its cause
// too (which clients never see).
func logDetail(err error) string {
	var ue *unavailableError
	if errors.As(err, &ue) {
		return ue.Error() + ": " + ue.err.Error()
	}
	return err.Error()
}

// InvalidError says why presented credentials are not valid (401,
// error="invalid_token"). Its message is safe to show to the client: it
// never contains the credentials; the wrapped error (e.g. jwt.ErrTokenExpired)
// may say more and is for logs and errors.Is.
type InvalidError struct {
	Reason string
	Err    error
}

func (e *InvalidError) Error() string { return e.Reason }
func (e *InvalidError) Unwrap() error { return e.Err }

func invalid(reason string, err error) error { return &InvalidError{Reason: reason, Err: err} }

func invalidf(err error, format string, args ...any) error {
	return &InvalidError{Reason: fmt.Sprintf(format, args...), Err: err}
}

// IsInvalid reports whether err says the credentials are not valid.
func IsInvalid(err error) bool {
	var ie *InvalidError
	return errors.As(err, &ie)
}

// Challenge is the WWW-Authenticate value of a 401 answer to err (RFC 6750
// §3): bare when no credentials were sent, with error="invalid_token" when
// they were not valid.
func Challenge(err error) string {
	const base = `Bearer realm="cmlcm"`
	var ie *InvalidError
	if errors.As(err, &ie) {
		return base + `, error="invalid_token", error_description="` + quoteSafe(ie.Reason) + `"`
	}
	return base
}

// quoteSafe keeps a string legal inside an auth-param quoted-string.
func quoteSafe(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' || c < 0x20 || c > 0x7e {
			c = ' '
		}
		b = append(b, c)
	}
	return string(b)
}
