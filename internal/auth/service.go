package auth

import (
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Config assembles the whole of authentication in one call (New): the
// verifier, the sessions, the authenticator, the web handlers and the API
// Gateway authorizer. Wiring code (cmd/cmlcm, lambdas/*) fills it.
type Config struct {
	// Issuers are the trusted token issuers (at least one).
	Issuers []IssuerConfig
	// Login configures the OIDC login; nil: bearer tokens only. Its issuer
	// must be one of Issuers, with its client id accepted there.
	Login *LoginConfig
	// Store keeps sessions and pending logins; nil: bearer tokens only.
	Store SessionStore
	// InsecureCookie: plain-http localhost only (see SessionOptions).
	InsecureCookie bool
	// Refresh: refresh session tokens in this process (needs Login with
	// its client secret). The route Lambdas behind the authorizer leave
	// it off; the authorizer and the local server turn it on.
	Refresh bool
	// SessionMaxAge, RefreshBefore, LoginTTL, Leeway: 0 takes the defaults.
	SessionMaxAge time.Duration
	RefreshBefore time.Duration
	LoginTTL      time.Duration
	Leeway        time.Duration
	HTTPTimeout   time.Duration
	Logger        *slog.Logger
}

// Service is authentication, assembled.
type Service struct {
	Verifier      *Verifier
	Login         *Login // nil without Config.Login
	Sessions      *Sessions
	Authenticator *Authenticator
	Web           *Web
}

// New assembles a Service from cfg.
func New(cfg Config) (*Service, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	v, err := NewVerifier(VerifierConfig{Issuers: cfg.Issuers, Leeway: cfg.Leeway, HTTPTimeout: cfg.HTTPTimeout, Logger: log})
	if err != nil {
		return nil, err
	}
	s := &Service{Verifier: v}
	if cfg.Login != nil {
		lc := *cfg.Login
		if lc.HTTPTimeout == 0 {
			lc.HTTPTimeout = cfg.HTTPTimeout
		}
		if s.Login, err = NewLogin(lc); err != nil {
			v.Close()
			return nil, err
		}
		if _, ok := v.issuers[lc.Issuer]; !ok {
			v.Close()
			return nil, errors.New("auth: the login's issuer " + lc.Issuer + " is not among the trusted issuers")
		}
	}
	if cfg.Store != nil {
		o := SessionOptions{MaxAge: cfg.SessionMaxAge, RefreshBefore: cfg.RefreshBefore, Verifier: v, InsecureCookie: cfg.InsecureCookie, Logger: log}
		if cfg.Refresh && s.Login != nil {
			o.Refresher = s.Login
		}
		if s.Sessions, err = NewSessions(cfg.Store, o); err != nil {
			v.Close()
			return nil, err
		}
	}
	if s.Authenticator, err = NewAuthenticator(v, s.Sessions); err != nil {
		v.Close()
		return nil, err
	}
	if s.Sessions != nil {
		if s.Web, err = NewWeb(WebConfig{Login: s.Login, Verifier: v, Sessions: s.Sessions, Authenticator: s.Authenticator,
			LoginTTL: cfg.LoginTTL, Logger: log}); err != nil {
			v.Close()
			return nil, err
		}
	}
	return s, nil
}

// Handlers are the auth routes' handlers by route name (authLogin,
// authCallback, authLogout, authMe); empty without a session store.
func (s *Service) Handlers() map[string]http.Handler {
	if s.Web == nil {
		return map[string]http.Handler{}
	}
	return s.Web.Handlers()
}

// Close stops background work (JWKS refreshes).
func (s *Service) Close() { s.Verifier.Close() }
