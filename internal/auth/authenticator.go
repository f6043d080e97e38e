package auth

import (
	"context"
	"errors"
	"net/http"
	"strings"
)

// How a request authenticated.
const (
	MethodSession = "session"
	MethodBearer  = "bearer"
)

// Identity is a resolved request: who, and through what.
type Identity struct {
	Principal Principal
	// Method is MethodSession or MethodBearer.
	Method string
	// Session is set for MethodSession.
	Session *Session
}

// Authenticator resolves requests to principals, from an
// "Authorization: Bearer" access token or else the session cookie.
type Authenticator struct {
	verifier tokenVerifier
	sessions *Sessions // nil: bearer tokens only
}

// NewAuthenticator returns an authenticator. sessions may be nil (bearer
// tokens only).
func NewAuthenticator(v *Verifier, sessions *Sessions) (*Authenticator, error) {
	if v == nil {
		return nil, errors.New("auth: the authenticator needs a verifier")
	}
	return &Authenticator{verifier: v, sessions: sessions}, nil
}

// Authenticate resolves r to its principal for the route middleware:
//
//   - no credentials: ErrNoCredentials (401, WWW-Authenticate: Bearer);
//   - credentials not valid: an *InvalidError (401, invalid_token);
//   - a cookie-authenticated unsafe request (POST, PUT, PATCH, DELETE…)
//     without the session's X-CSRF-Token: ErrCSRF (403);
//   - else the principal. Missing roles are the caller's 403.
func (a *Authenticator) Authenticate(r *http.Request) (Principal, error) {
	id, err := a.Resolve(r.Context(), r)
	if err != nil {
		return Principal{}, err
	}
	if err := CheckCSRF(r, id); err != nil {
		return Principal{}, err
	}
	return id.Principal, nil
}

// Resolve identifies r without the CSRF check (the API Gateway authorizer
// cannot make it: its decision is cached per credential, not per method;
// the route Lambda checks CSRF with AuthorizerCSRF).
//
// A bearer token wins over a cookie: a script's explicit credential. Only
// the Bearer scheme counts; other Authorization values (the edge's inert
// "None") are ignored.
func (a *Authenticator) Resolve(ctx context.Context, r *http.Request) (Identity, error) {
	if tok, ok := bearerToken(r.Header.Get("Authorization")); ok {
		p, err := a.verifier.Verify(ctx, tok)
		if err != nil {
			return Identity{}, err
		}
		return Identity{Principal: p, Method: MethodBearer}, nil
	}
	if a.sessions != nil {
		if c, err := r.Cookie(a.sessions.CookieName()); err == nil && c.Value != "" {
			sess, err := a.sessions.Get(ctx, c.Value)
			if err != nil {
				return Identity{}, err
			}
			return Identity{Principal: sess.Principal, Method: MethodSession, Session: sess}, nil
		}
	}
	return Identity{}, ErrNoCredentials
}

// bearerToken extracts the token of an "Authorization: Bearer <token>".
func bearerToken(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// CheckCSRF refuses a cookie-authenticated unsafe request whose
// X-CSRF-Token header is not the session's token. SameSite=Lax already
// keeps the cookie off cross-site POSTs; the header adds a defence that
// does not depend on browsers, sibling subdomains or method overrides: a
// cross-origin page can neither read the token (from /api/auth/me, same
// origin only, no CORS) nor set a custom header without a CORS preflight
// we never grant.
func CheckCSRF(r *http.Request, id Identity) error {
	if id.Method != MethodSession || safeMethod(r.Method) {
		return nil
	}
	tok := r.Header.Get(CSRFHeader)
	if tok == "" || id.Session == nil || id.Session.CSRFToken == "" || !constantTimeEqual(tok, id.Session.CSRFToken) {
		return ErrCSRF
	}
	return nil
}

func safeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}
