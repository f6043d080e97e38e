package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"
)

// SessionStore keeps opaque values under keys for a while. Keys are
// derived from, never equal to, the cookie value (see sessionKey), so
// reading the store does not yield usable cookies. Implementations:
// BoltStore (local server) and DynamoStore (production).
type SessionStore interface {
	// Get returns the value, or ErrSessionNotFound when there is none or
	// it has expired (DynamoDB deletes expired items only eventually).
	Get(ctx context.Context, key string) ([]byte, error)
	// Put stores value for ttl (> 0), replacing any previous value.
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes the value; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Session is a signed-in browser's server-side state. The tokens never
// leave the server: the browser holds only the opaque session id.
type Session struct {
	// ID is the cookie value. Not stored: the store key is its hash.
	ID           string    `json:"-"`
	Principal    Principal `json:"principal"`
	AccessToken  string    `json:"accessToken"`
	RefreshToken string    `json:"refreshToken,omitempty"`
	// TokenExpiry is the access token's expiry: the session refreshes its
	// tokens (and so the principal's roles) shortly before it.
	TokenExpiry time.Time `json:"tokenExpiry"`
	// CSRFToken must come back in the X-CSRF-Token header of every
	// cookie-authenticated write (see /api/auth/me).
	CSRFToken string    `json:"csrfToken"`
	CreatedAt time.Time `json:"createdAt"`
	// ExpiresAt ends the session whatever happens: the earlier of the
	// maximum age and the refresh token's expiry.
	ExpiresAt time.Time `json:"expiresAt"`
}

// LogValue keeps tokens and ids out of logs.
func (s *Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("subject", s.Principal.Subject), slog.String("username", s.Principal.Username),
		slog.Time("expiresAt", s.ExpiresAt))
}

// String keeps tokens out of fmt output.
func (s *Session) String() string {
	return fmt.Sprintf("session{%s until %s}", s.Principal.Username, s.ExpiresAt.Format(time.RFC3339))
}

// Tokens are what an authorization-code exchange or a refresh returns.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	IDToken      string
	Expiry       time.Time
	// RefreshExpiry is when the refresh token expires, when the IdP says
	// (Keycloak's refresh_expires_in); zero when unknown.
	RefreshExpiry time.Time
}

// LogValue keeps tokens out of logs.
func (t *Tokens) LogValue() slog.Value { return slog.TimeValue(t.Expiry) }

// String keeps tokens out of fmt output.
func (t *Tokens) String() string { return "tokens{expiry " + t.Expiry.Format(time.RFC3339) + "}" }

// Defaults of SessionOptions.
const (
	DefaultSessionMaxAge = 12 * time.Hour
	DefaultRefreshBefore = 60 * time.Second
	// SessionCookie is the cookie's name over HTTPS: the __Host- prefix
	// makes browsers refuse it unless Secure, host-only and Path=/.
	SessionCookie = "__Host-cmlcm_session"
	// InsecureSessionCookie is its name on plain-http localhost.
	InsecureSessionCookie = "cmlcm_session"
	// CSRFHeader carries the session's anti-CSRF token on writes.
	CSRFHeader = "X-CSRF-Token"
)

// tokenVerifier verifies access tokens (the *Verifier).
type tokenVerifier interface {
	Verify(ctx context.Context, raw string) (Principal, error)
}

// tokenRefresher refreshes tokens (the *Login).
type tokenRefresher interface {
	Refresh(ctx context.Context, refreshToken string) (*Tokens, error)
}

// SessionOptions configure NewSessions.
type SessionOptions struct {
	// MaxAge bounds a session's life (0: DefaultSessionMaxAge).
	MaxAge time.Duration
	// RefreshBefore: tokens are refreshed when the access token expires
	// within this (0: DefaultRefreshBefore).
	RefreshBefore time.Duration
	// Verifier re-verifies refreshed access tokens; Refresher refreshes.
	// Without a Refresher (a route Lambda behind the authorizer, which
	// refreshes) sessions are served as stored until they expire.
	Verifier  tokenVerifier
	Refresher tokenRefresher
	// InsecureCookie drops the cookie's Secure attribute (and the __Host-
	// prefix). Only for a server on plain-http localhost.
	InsecureCookie bool
	Logger         *slog.Logger
	Now            func() time.Time
}

// Sessions creates, looks up (refreshing as needed) and deletes sessions.
type Sessions struct {
	store SessionStore
	o     SessionOptions
	log   *slog.Logger
	now   func() time.Time
	sf    singleflight.Group
}

// NewSessions returns sessions kept in store.
func NewSessions(store SessionStore, o SessionOptions) (*Sessions, error) {
	if store == nil {
		return nil, errors.New("auth: sessions need a store")
	}
	if o.MaxAge <= 0 {
		o.MaxAge = DefaultSessionMaxAge
	}
	if o.RefreshBefore <= 0 {
		o.RefreshBefore = DefaultRefreshBefore
	}
	s := &Sessions{store: store, o: o, log: o.Logger, now: o.Now}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// CookieName is the session cookie's name.
func (s *Sessions) CookieName() string {
	if s.o.InsecureCookie {
		return InsecureSessionCookie
	}
	return SessionCookie
}

// Secure reports whether cookies carry the Secure attribute.
func (s *Sessions) Secure() bool { return !s.o.InsecureCookie }

// Create stores a new session for a completed login and returns it; its
// ID goes into the cookie. A fresh random id per login defeats session
// fixation.
func (s *Sessions) Create(ctx context.Context, p Principal, t *Tokens) (*Session, error) {
	now := s.now().UTC()
	sess := &Session{
		ID:           randomToken(),
		Principal:    p,
		AccessToken:  t.AccessToken,
		RefreshToken: t.RefreshToken,
		TokenExpiry:  t.Expiry.UTC(),
		CSRFToken:    randomToken(),
		CreatedAt:    now,
	}
	sess.ExpiresAt = s.expiry(sess, t)
	sess.Principal.ExpiresAt = sess.ExpiresAt
	if !sess.ExpiresAt.After(now) {
		return nil, invalid("the identity provider's tokens are already expired", nil)
	}
	if err := s.save(ctx, sess); err != nil {
		return nil, err
	}
	return sess, nil
}

// expiry: the maximum age, cut short by the refresh token's expiry, or by
// the access token's when there is nothing to refresh it with.
func (s *Sessions) expiry(sess *Session, t *Tokens) time.Time {
	exp := sess.CreatedAt.Add(s.o.MaxAge)
	switch {
	case sess.RefreshToken == "":
		if !sess.TokenExpiry.IsZero() && sess.TokenExpiry.Before(exp) {
			exp = sess.TokenExpiry
		}
	case !t.RefreshExpiry.IsZero() && t.RefreshExpiry.Before(exp):
		exp = t.RefreshExpiry.UTC()
	}
	return exp
}

// Get returns the live session with that id, refreshing its tokens when
// the access token is about to expire. A missing, expired or revoked
// session yields an *InvalidError.
func (s *Sessions) Get(ctx context.Context, id string) (*Session, error) {
	sess, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if !s.due(sess) {
		return sess, nil
	}
	// One refresh per session at a time in this process: a page firing
	// ten requests must not spend the refresh token ten times.
	v, err, _ := s.sf.Do(sessionKey(id), func() (any, error) { return s.refresh(context.WithoutCancel(ctx), id) })
	if err != nil {
		return nil, err
	}
	return v.(*Session), nil
}

// extendWithin: a session ending within this is refreshed even when its
// access token is not due, if a refresh can push its end later (an IdP
// with a sliding idle timeout, like Keycloak's refresh_expires_in). The
// dashboard's "extend session" is a GET /api/auth/me in that window.
const extendWithin = 10 * time.Minute

// due reports whether sess should refresh its tokens now.
func (s *Sessions) due(sess *Session) bool {
	if s.o.Refresher == nil {
		return false
	}
	now := s.now()
	if !now.Add(s.o.RefreshBefore).Before(sess.TokenExpiry) {
		return true
	}
	capped := !sess.ExpiresAt.Before(sess.CreatedAt.Add(s.o.MaxAge).Add(-time.Minute))
	return sess.RefreshToken != "" && !capped && sess.ExpiresAt.Sub(now) < extendWithin
}

func (s *Sessions) load(ctx context.Context, id string) (*Session, error) {
	if id == "" {
		return nil, ErrNoCredentials
	}
	raw, err := s.store.Get(ctx, sessionKey(id))
	if errors.Is(err, ErrSessionNotFound) {
		return nil, invalid("the session has ended; sign in again", err)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	sess := &Session{}
	if err := json.Unmarshal(raw, sess); err != nil {
		return nil, fmt.Errorf("auth: decode session: %w", err)
	}
	sess.ID = id
	if !s.now().Before(sess.ExpiresAt) {
		_ = s.store.Delete(ctx, sessionKey(id))
		return nil, invalid("the session has ended; sign in again", ErrSessionNotFound)
	}
	return sess, nil
}

func (s *Sessions) refresh(ctx context.Context, id string) (*Session, error) {
	// Another request (or process) may have refreshed it meanwhile.
	sess, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if !s.due(sess) {
		return sess, nil
	}
	stillValid := s.now().Before(sess.TokenExpiry)
	if sess.RefreshToken == "" {
		if stillValid {
			return sess, nil
		}
		_ = s.Delete(ctx, id)
		return nil, invalid("the session has ended; sign in again", nil)
	}
	t, err := s.o.Refresher.Refresh(ctx, sess.RefreshToken)
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
			// Revoked, expired or signed out at the IdP: the session ends.
			s.log.Info("auth: session ended by the identity provider", "session", sess)
			_ = s.Delete(ctx, id)
			return nil, invalid("the session has ended at the identity provider; sign in again", err)
		}
		if stillValid {
			// The IdP is unreachable: keep serving until the token expires.
			s.log.Warn("auth: token refresh failed; retrying on a later request", "session", sess, "err", errCode(err))
			return sess, nil
		}
		s.log.Warn("auth: token refresh failed", "session", sess, "err", errCode(err))
		return nil, invalid("the session could not be refreshed; sign in again", err)
	}
	p, err := s.o.Verifier.Verify(ctx, t.AccessToken)
	if err != nil {
		s.log.Warn("auth: refreshed access token rejected", "session", sess, "err", err)
		_ = s.Delete(ctx, id)
		return nil, invalid("the session has ended; sign in again", err)
	}
	if p.Subject != sess.Principal.Subject || p.Issuer != sess.Principal.Issuer {
		_ = s.Delete(ctx, id)
		return nil, invalid("the session's identity changed; sign in again", nil)
	}
	// Profile fields came from the login's ID token; roles are the new
	// token's: a role granted or withdrawn at the IdP applies from here on.
	sess.Principal.Roles = p.Roles
	sess.AccessToken = t.AccessToken
	if t.RefreshToken != "" {
		sess.RefreshToken = t.RefreshToken
	}
	sess.TokenExpiry = t.Expiry.UTC()
	if !t.RefreshExpiry.IsZero() {
		maxEnd := sess.CreatedAt.Add(s.o.MaxAge)
		sess.ExpiresAt = t.RefreshExpiry.UTC()
		if maxEnd.Before(sess.ExpiresAt) {
			sess.ExpiresAt = maxEnd
		}
	}
	sess.Principal.ExpiresAt = sess.ExpiresAt
	if err := s.save(ctx, sess); err != nil {
		return nil, err
	}
	return sess, nil
}

// errCode is what an OAuth error may say in logs: its code, never the
// response body.
func errCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode != "" {
			return "oauth2 error " + re.ErrorCode
		}
		if re.Response != nil {
			return "oauth2 error: " + re.Response.Status
		}
	}
	return err.Error()
}

// Delete ends the session.
func (s *Sessions) Delete(ctx context.Context, id string) error {
	if id == "" {
		return nil
	}
	return s.store.Delete(ctx, sessionKey(id))
}

func (s *Sessions) save(ctx context.Context, sess *Session) error {
	raw, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	ttl := sess.ExpiresAt.Sub(s.now())
	if ttl <= 0 {
		return invalid("the session has ended; sign in again", nil)
	}
	if err := s.store.Put(ctx, sessionKey(sess.ID), raw, ttl); err != nil {
		return unavailable(err)
	}
	return nil
}

// cookie is the session cookie for sess (or, with sess nil, the cookie
// that deletes it).
func (s *Sessions) cookie(sess *Session) *http.Cookie {
	c := &http.Cookie{Name: s.CookieName(), Path: "/", HttpOnly: true, Secure: s.Secure(), SameSite: http.SameSiteLaxMode}
	if sess == nil {
		c.MaxAge = -1
		return c
	}
	c.Value = sess.ID
	// The session's own end may slide later with refreshes; the cookie
	// lives until the session's hard cap, and the server enforces the rest.
	c.MaxAge = int(sess.CreatedAt.Add(s.o.MaxAge).Sub(s.now()).Seconds())
	return c
}

// sessionKey is the store key of a session id: its SHA-256, so the store
// (a table an operator can read) holds nothing that works as a cookie.
func sessionKey(id string) string { return "session#" + hashToken(id) }

// loginKey is the store key of a pending login.
func loginKey(id string) string { return "login#" + hashToken(id) }

func hashToken(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// randomToken returns 256 random bits, URL-safe.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
