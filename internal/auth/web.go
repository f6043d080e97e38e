package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DefaultLoginTTL bounds the time between /api/auth/login and the
// callback: the pending state, nonce and PKCE verifier expire after it.
const DefaultLoginTTL = 10 * time.Minute

// Login cookie names (see SessionCookie for the prefix).
const (
	loginCookie         = "__Host-cmlcm_login"
	insecureLoginCookie = "cmlcm_login"
)

// idTokenVerifier verifies the login's ID token (the *Verifier).
type idTokenVerifier interface {
	tokenVerifier
	VerifyIDToken(ctx context.Context, raw, clientID, nonce string) (Principal, error)
}

// WebConfig configures NewWeb.
type WebConfig struct {
	// Login is the OIDC provider side; nil makes the login routes answer
	// 503 (a deployment that accepts bearer tokens only).
	Login         *Login
	Verifier      *Verifier
	Sessions      *Sessions
	Authenticator *Authenticator
	// LoginTTL: 0 is DefaultLoginTTL.
	LoginTTL time.Duration
	Logger   *slog.Logger
}

// Web serves /api/auth/login, /callback, /logout and /me.
type Web struct {
	login    *Login
	verifier idTokenVerifier
	sessions *Sessions
	authn    *Authenticator
	loginTTL time.Duration
	log      *slog.Logger
}

// NewWeb returns the auth routes' handlers.
func NewWeb(cfg WebConfig) (*Web, error) {
	if cfg.Verifier == nil || cfg.Sessions == nil || cfg.Authenticator == nil {
		return nil, errors.New("auth: the web handlers need a verifier, sessions and an authenticator")
	}
	w := &Web{login: cfg.Login, verifier: cfg.Verifier, sessions: cfg.Sessions, authn: cfg.Authenticator,
		loginTTL: cfg.LoginTTL, log: cfg.Logger}
	if w.loginTTL <= 0 {
		w.loginTTL = DefaultLoginTTL
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	return w, nil
}

// Handlers maps internal/routes route names to the handlers.
func (w *Web) Handlers() map[string]http.Handler {
	return map[string]http.Handler{
		"authLogin":    w.LoginHandler(),
		"authCallback": w.CallbackHandler(),
		"authLogout":   w.LogoutHandler(),
		"authMe":       w.MeHandler(),
	}
}

// pendingLogin is what the login remembers until the callback. It is kept
// server-side under the login cookie's (hashed) value, so the callback
// only accepts the browser that started the login (no login CSRF).
type pendingLogin struct {
	State     string    `json:"state"`
	Nonce     string    `json:"nonce"`
	Verifier  string    `json:"verifier"`
	ReturnTo  string    `json:"returnTo"`
	CreatedAt time.Time `json:"createdAt"`
}

func (w *Web) loginCookieName() string {
	if w.sessions.Secure() {
		return loginCookie
	}
	return insecureLoginCookie
}

func (w *Web) loginCookie(value string, maxAge int) *http.Cookie {
	return &http.Cookie{Name: w.loginCookieName(), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: w.sessions.Secure(), SameSite: http.SameSiteLaxMode}
}

// LoginHandler serves GET /api/auth/login[?return_to=/path]: it starts
// the authorization code flow with fresh state, nonce and PKCE verifier
// and redirects to the identity provider.
func (w *Web) LoginHandler() http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		if w.login == nil {
			writeProblem(rw, http.StatusServiceUnavailable, problemUnavailable, "The operation is not available", ErrNotConfigured.Error())
			return
		}
		pl := pendingLogin{State: randomToken(), Nonce: randomToken(), Verifier: oauth2.GenerateVerifier(),
			ReturnTo: SafeReturnTo(r.URL.Query().Get("return_to")), CreatedAt: time.Now().UTC()}
		target, err := w.login.AuthCodeURL(r.Context(), pl.State, pl.Nonce, pl.Verifier)
		if err != nil {
			w.log.Error("auth: login: identity provider unavailable", "err", err)
			writeProblem(rw, http.StatusBadGateway, problemUpstream, "A service the API depends on failed", "the identity provider is unavailable")
			return
		}
		raw, _ := json.Marshal(pl)
		id := randomToken()
		if err := w.sessions.store.Put(r.Context(), loginKey(id), raw, w.loginTTL); err != nil {
			w.log.Error("auth: login: store", "err", logDetail(err))
			writeProblem(rw, http.StatusInternalServerError, problemInternal, "Internal server error", "could not start the login")
			return
		}
		http.SetCookie(rw, w.loginCookie(id, int(w.loginTTL.Seconds())))
		rw.Header().Set("Cache-Control", "no-store")
		http.Redirect(rw, r, target, http.StatusFound)
	}
}

// CallbackHandler serves GET /api/auth/callback: it checks the login
// cookie's pending login (single use), the state, the provider's error
// and issuer parameters, redeems the code with the PKCE verifier,
// verifies the ID token (nonce) and the access token, creates the session
// and redirects to the page the login started from.
func (w *Web) CallbackHandler() http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		fail := func(status int, slug, detail string) {
			http.SetCookie(rw, w.loginCookie("", -1))
			title := "The sign-in failed"
			if slug == problemUpstream {
				title = "A service the API depends on failed"
			}
			writeProblem(rw, status, slug, title, detail)
		}
		if w.login == nil {
			writeProblem(rw, http.StatusServiceUnavailable, problemUnavailable, "The operation is not available", ErrNotConfigured.Error())
			return
		}
		ctx := r.Context()
		c, err := r.Cookie(w.loginCookieName())
		if err != nil || c.Value == "" {
			fail(http.StatusBadRequest, problemLogin, "no login in progress in this browser (or it took too long); start again at /api/auth/login")
			return
		}
		raw, err := w.sessions.store.Get(ctx, loginKey(c.Value))
		// Single use: whatever happens next, this login is spent.
		_ = w.sessions.store.Delete(ctx, loginKey(c.Value))
		if err != nil {
			fail(http.StatusBadRequest, problemLogin, "no login in progress in this browser (or it took too long); start again at /api/auth/login")
			return
		}
		var pl pendingLogin
		if err := json.Unmarshal(raw, &pl); err != nil {
			fail(http.StatusBadRequest, problemLogin, "the login state is unreadable; start again")
			return
		}
		q := r.URL.Query()
		if !constantTimeEqual(q.Get("state"), pl.State) {
			w.log.Warn("auth: callback with a state that does not match the login")
			fail(http.StatusBadRequest, problemLogin, "the state parameter does not match the login")
			return
		}
		// RFC 9207: a provider that names itself must be ours (mix-up).
		if iss := q.Get("iss"); iss != "" && iss != w.login.Issuer() {
			fail(http.StatusBadRequest, problemLogin, "the response comes from another identity provider")
			return
		}
		if e := q.Get("error"); e != "" {
			w.log.Info("auth: the identity provider refused the login", "error", e)
			fail(http.StatusUnauthorized, problemLogin, "the identity provider refused the sign-in: "+sanitizeCode(e))
			return
		}
		code := q.Get("code")
		if code == "" {
			fail(http.StatusBadRequest, problemLogin, "no authorization code")
			return
		}
		tokens, err := w.login.Exchange(ctx, code, pl.Verifier)
		if err != nil {
			var re *oauth2.RetrieveError
			if errors.As(err, &re) {
				w.log.Warn("auth: code exchange refused", "err", errCode(err))
				fail(http.StatusBadRequest, problemLogin, "the identity provider refused the authorization code")
				return
			}
			w.log.Error("auth: code exchange failed", "err", err)
			fail(http.StatusBadGateway, problemUpstream, "the identity provider is unavailable")
			return
		}
		if tokens.IDToken == "" {
			fail(http.StatusBadGateway, problemUpstream, "the identity provider returned no ID token")
			return
		}
		idp, err := w.verifier.VerifyIDToken(ctx, tokens.IDToken, w.login.ClientID(), pl.Nonce)
		if err != nil {
			w.log.Warn("auth: ID token rejected", "err", err)
			fail(http.StatusBadRequest, problemLogin, "the ID token is not valid: "+err.Error())
			return
		}
		p, err := w.verifier.Verify(ctx, tokens.AccessToken)
		if err != nil {
			// The login's issuer and client must also be trusted for
			// access tokens (IssuerConfig): a deployment error.
			w.log.Error("auth: the login's access token is not accepted by the verifier", "err", err)
			fail(http.StatusBadGateway, problemUpstream, "the identity provider's access token is not accepted: "+err.Error())
			return
		}
		if p.Subject != idp.Subject {
			fail(http.StatusBadRequest, problemLogin, "the ID and access tokens name different people")
			return
		}
		sess, err := w.sessions.Create(ctx, mergeProfile(p, idp), tokens)
		if err != nil {
			w.log.Error("auth: create session", "err", logDetail(err))
			fail(http.StatusInternalServerError, problemInternal, "could not create the session")
			return
		}
		w.log.Info("auth: signed in", "session", sess, "roles", sess.Principal.Roles)
		http.SetCookie(rw, w.loginCookie("", -1))
		http.SetCookie(rw, w.sessions.cookie(sess))
		rw.Header().Set("Cache-Control", "no-store")
		http.Redirect(rw, r, pl.ReturnTo, http.StatusSeeOther)
	}
}

// LogoutHandler serves POST /api/auth/logout: it deletes the session,
// revokes its refresh token at the provider, clears the cookie and
// answers {"logoutUrl": …}, the provider's end-session URL the browser
// should visit to end its single sign-on session ("" if none). A
// cookie-authenticated logout needs the X-CSRF-Token header like every
// write (else anyone could sign people out).
func (w *Web) LogoutHandler() http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		id, err := w.authn.Resolve(r.Context(), r)
		if err == nil {
			err = CheckCSRF(r, id)
		}
		if err != nil {
			if IsInvalid(err) {
				// Already signed out (expired or deleted session): drop
				// the stale cookie and answer as a logout would.
				http.SetCookie(rw, w.sessions.cookie(nil))
				writeJSON(rw, http.StatusOK, map[string]string{"logoutUrl": ""})
				return
			}
			writeAuthError(rw, err)
			return
		}
		out := map[string]string{"logoutUrl": ""}
		if id.Method == MethodSession {
			if err := w.sessions.Delete(r.Context(), id.Session.ID); err != nil {
				w.log.Error("auth: logout: delete session", "err", logDetail(err))
				writeProblem(rw, http.StatusInternalServerError, problemInternal, "Internal server error", "could not end the session")
				return
			}
			http.SetCookie(rw, w.sessions.cookie(nil))
			if w.login != nil {
				// Best effort and bounded: the session is already gone here.
				ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
				if err := w.login.Revoke(ctx, id.Session.RefreshToken); err != nil {
					w.log.Warn("auth: logout: refresh token revocation failed", "err", errCode(err))
				}
				if u, err := w.login.EndSessionURL(ctx); err == nil {
					out["logoutUrl"] = u
				}
				cancel()
			}
			w.log.Info("auth: signed out", "session", id.Session)
		}
		writeJSON(rw, http.StatusOK, out)
	}
}

// Me is the answer of GET /api/auth/me: the principal (flat), how it
// authenticated, and for a session its anti-CSRF token and the header to
// send it in. expiresAt is the session's (or the bearer token's) expiry.
type Me struct {
	Principal
	AuthMethod string `json:"authMethod"`
	CSRFToken  string `json:"csrfToken,omitempty"`
	CSRFHeader string `json:"csrfHeader,omitempty"`
}

// MeHandler serves GET /api/auth/me for anyone signed in, with or without
// roles. Calling it also refreshes a session close to its tokens' expiry.
func (w *Web) MeHandler() http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		id, err := w.authn.Resolve(r.Context(), r)
		if err != nil {
			writeAuthError(rw, err)
			return
		}
		me := Me{Principal: id.Principal, AuthMethod: id.Method}
		if me.Roles == nil {
			me.Roles = []string{}
		}
		if id.Session != nil {
			me.CSRFToken, me.CSRFHeader = id.Session.CSRFToken, CSRFHeader
		}
		writeJSON(rw, http.StatusOK, me)
	}
}

// SafeReturnTo returns raw when it is a path on this origin ("/…", with
// optional query and fragment), else "/": the login must never redirect
// to another site (open redirect).
func SafeReturnTo(raw string) string {
	if raw == "" || len(raw) > 2048 || raw[0] != '/' || strings.HasPrefix(raw, "//") {
		return "/"
	}
	for _, c := range raw {
		// Browsers read "/\host" as "//host"; control characters could
		// split headers or hide a scheme.
		if c == '\\' || c < 0x20 || c == 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	return raw
}

// sanitizeCode keeps an OAuth error code printable and short.
func sanitizeCode(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') {
			return r
		}
		return -1
	}, s)
}

// String hides the pending login's secrets from fmt.
func (pl pendingLogin) String() string { return fmt.Sprintf("login{return to %s}", pl.ReturnTo) }
