package auth_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/cmlcm/cmlcm/internal/auth"
	"github.com/cmlcm/cmlcm/internal/auth/devidp"
)

// localStack is the local server's authentication, as cmd/cmlcm wires it:
// the development OpenID provider mounted at /idp/, the OIDC login
// against it, sessions in a bbolt bucket, and the auth routes.
type localStack struct {
	srv        *httptest.Server
	logs       logBuffer
	svc        *auth.Service
	idp        *devidp.Provider
	tokenCalls atomic.Int32
	revokes    atomic.Int32
}

type stackOpts struct {
	accessTTL time.Duration
	loginTTL  time.Duration
	secret    string // the login client's secret (confidential client)
}

// logBuffer collects the stack's log lines (written from server
// goroutines) so a test can check no secret reached them.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLocalStack(t *testing.T, o stackOpts) *localStack {
	t.Helper()
	st := &localStack{}
	mux := http.NewServeMux()
	st.srv = httptest.NewServer(mux)
	t.Cleanup(st.srv.Close)

	log := slog.New(slog.NewJSONHandler(&st.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	idp, err := devidp.New(devidp.Config{LocalMode: true, Issuer: st.srv.URL + "/idp", DataDir: t.TempDir(),
		AccessTokenTTL: o.accessTTL, ClientSecret: o.secret, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	st.idp = idp
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "cmlcm.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	store, err := auth.NewBoltStore(db, "")
	if err != nil {
		t.Fatal(err)
	}
	lc := idp.LoginConfig(st.srv.URL)
	svc, err := auth.New(auth.Config{Issuers: []auth.IssuerConfig{idp.IssuerConfig()}, Login: &lc, Store: store,
		InsecureCookie: true, Refresh: true, LoginTTL: o.loginTTL, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(svc.Close)
	st.svc = svc

	idpHandler := idp.Handler()
	mux.Handle(idp.Mount(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/idp/token":
			st.tokenCalls.Add(1)
		case "/idp/revoke":
			st.revokes.Add(1)
		}
		idpHandler.ServeHTTP(w, r)
	}))
	h := svc.Handlers()
	mux.Handle("GET /api/auth/login", h["authLogin"])
	mux.Handle("GET /api/auth/callback", h["authCallback"])
	mux.Handle("POST /api/auth/logout", h["authLogout"])
	mux.Handle("GET /api/auth/me", h["authMe"])
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "ok", "mode": "local", "devIdentityProvider": idp.HealthInfo()})
	})
	return st
}

// browser is a cookie-keeping client that does not follow redirects, so
// each step of the flow can be checked.
func browser(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, method, u string, body url.Values, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(body.Encode())
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// startLogin runs /api/auth/login and returns the authorization URL.
func (st *localStack) startLogin(t *testing.T, c *http.Client, returnTo string) *url.URL {
	t.Helper()
	resp, _ := do(t, c, "GET", st.srv.URL+"/api/auth/login?return_to="+url.QueryEscape(returnTo), nil, nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("login: %s", resp.Status)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// signIn posts the login form of the authorization URL and returns the
// callback URL the provider redirects to.
func (st *localStack) signIn(t *testing.T, c *http.Client, authz *url.URL, user, password string) *url.URL {
	t.Helper()
	form := authz.Query()
	form.Set("username", user)
	form.Set("password", password)
	resp, body := do(t, c, "POST", st.idp.Issuer()+"/authorize", form, nil)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("sign-in form: %s %s", resp.Status, body)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (st *localStack) me(t *testing.T, c *http.Client) (int, auth.Me, string) {
	t.Helper()
	resp, body := do(t, c, "GET", st.srv.URL+"/api/auth/me", nil, nil)
	var me auth.Me
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal([]byte(body), &me); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, me, body
}

func TestLoginFlowWithDevProvider(t *testing.T) {
	const clientSecret = "local-client-secret-9f8e7d"
	st := newLocalStack(t, stackOpts{secret: clientSecret})
	c := browser(t)

	authz := st.startLogin(t, c, "/#/workers/w-1?tab=labs")
	q := authz.Query()
	if !strings.HasPrefix(authz.String(), st.idp.Issuer()+"/authorize?") || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" || q.Get("client_id") != devidp.DefaultClientID {
		t.Fatalf("authorization URL %s", authz)
	}
	resp, page := do(t, c, "GET", authz.String(), nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, `name="password"`) {
		t.Fatalf("login form: %s", resp.Status)
	}
	if wrong := authz.Query(); true {
		wrong.Set("username", "admin")
		wrong.Set("password", "nope")
		if resp, _ := do(t, c, "POST", st.idp.Issuer()+"/authorize", wrong, nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password: %s", resp.Status)
		}
	}
	cb := st.signIn(t, c, authz, "admin", "test")
	if cb.Path != "/api/auth/callback" || cb.Query().Get("code") == "" || cb.Query().Get("iss") != st.idp.Issuer() {
		t.Fatalf("callback URL %s", cb)
	}
	resp, body := do(t, c, "GET", cb.String(), nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/#/workers/w-1?tab=labs" {
		t.Fatalf("callback: %s → %q %s", resp.Status, resp.Header.Get("Location"), body)
	}
	var sessionCookie *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == auth.InsecureSessionCookie {
			sessionCookie = ck
		}
	}
	if sessionCookie == nil || !sessionCookie.HttpOnly || sessionCookie.SameSite != http.SameSiteLaxMode || sessionCookie.Path != "/" || len(sessionCookie.Value) < 40 {
		t.Fatalf("session cookie %+v", sessionCookie)
	}

	code, me, raw := st.me(t, c)
	if code != http.StatusOK || me.Username != "admin" || !slices.Equal(me.Roles, []string{"admin"}) || me.AuthMethod != auth.MethodSession ||
		me.CSRFToken == "" || me.CSRFHeader != auth.CSRFHeader || me.Email != "admin@cmlcm.local" || me.Name != "Ada Admin" || me.ExpiresAt.Before(time.Now()) {
		t.Fatalf("me: %d %s", code, raw)
	}
	if strings.Contains(raw, "eyJ") {
		t.Fatalf("/api/auth/me shows a token: %s", raw)
	}

	// The callback is single use.
	if resp, _ := do(t, c, "GET", cb.String(), nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("callback replay: %s", resp.Status)
	}

	// Writes through the cookie need the anti-CSRF header.
	authn := st.svc.Authenticator
	write := func(hdr string) error {
		r := httptest.NewRequest("POST", st.srv.URL+"/api/workers/w-1/start", nil)
		r.AddCookie(sessionCookie)
		if hdr != "" {
			r.Header.Set(auth.CSRFHeader, hdr)
		}
		_, err := authn.Authenticate(r)
		return err
	}
	if err := write(""); !errors.Is(err, auth.ErrCSRF) {
		t.Fatalf("write without the header: %v", err)
	}
	if err := write("wrong"); !errors.Is(err, auth.ErrCSRF) {
		t.Fatalf("write with a wrong token: %v", err)
	}
	if err := write(me.CSRFToken); err != nil {
		t.Fatalf("write with the token: %v", err)
	}

	// Logout: CSRF-protected, deletes the session, revokes the refresh
	// token, names the provider's end-session URL.
	if resp, _ := do(t, c, "POST", st.srv.URL+"/api/auth/logout", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without the CSRF header: %s", resp.Status)
	}
	resp, body = do(t, c, "POST", st.srv.URL+"/api/auth/logout", nil, map[string]string{auth.CSRFHeader: me.CSRFToken})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("logout: %s %s", resp.Status, body)
	}
	var out struct {
		LogoutURL string `json:"logoutUrl"`
	}
	_ = json.Unmarshal([]byte(body), &out)
	lu, _ := url.Parse(out.LogoutURL)
	if lu == nil || !strings.HasPrefix(out.LogoutURL, st.idp.Issuer()+"/logout?") || lu.Query().Get("client_id") != devidp.DefaultClientID ||
		lu.Query().Get("post_logout_redirect_uri") != st.srv.URL+"/" || lu.Query().Has("id_token_hint") {
		t.Fatalf("logout URL %q", out.LogoutURL)
	}
	if n := st.revokes.Load(); n != 1 {
		t.Errorf("%d revocations, want 1", n)
	}
	code, _, _ = st.me(t, c)
	if code != http.StatusUnauthorized {
		t.Fatalf("me after logout: %d", code)
	}
	// The old cookie is dead even if a browser kept it.
	r := httptest.NewRequest("GET", st.srv.URL+"/api/auth/me", nil)
	r.AddCookie(sessionCookie)
	if _, err := authn.Authenticate(r); !auth.IsInvalid(err) {
		t.Fatalf("old cookie after logout: %v", err)
	}

	// Nothing secret reached the logs: not the client secret, the session
	// id, the CSRF token, the code, the state or any token.
	logs := st.logs.String()
	if !strings.Contains(logs, "signed in") || !strings.Contains(logs, "signed out") {
		t.Fatalf("the flow logged nothing? %s", logs)
	}
	if strings.Contains(logs, "revocation failed") {
		t.Errorf("the refresh token was not revoked: %s", logs)
	}
	for name, secret := range map[string]string{"client secret": clientSecret, "session id": sessionCookie.Value,
		"CSRF token": me.CSRFToken, "code": cb.Query().Get("code"), "state": cb.Query().Get("state"), "a JWT": "eyJ"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the logs contain the %s", name)
		}
	}
}

func TestMeUnauthenticated(t *testing.T) {
	st := newLocalStack(t, stackOpts{})
	resp, body := do(t, browser(t), "GET", st.srv.URL+"/api/auth/me", nil, nil)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="cmlcm"` ||
		resp.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(body, `"type":"https://cmlcm.dev/problems/unauthenticated"`) {
		t.Fatalf("%s %v %s", resp.Status, resp.Header, body)
	}
	resp, _ = do(t, browser(t), "GET", st.srv.URL+"/api/auth/me", nil, map[string]string{"Authorization": "Bearer not-a-token"})
	if h := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(h, `error="invalid_token"`) {
		t.Fatalf("bad bearer: %s %q", resp.Status, h)
	}
}

func TestCallbackRejects(t *testing.T) {
	st := newLocalStack(t, stackOpts{})
	cases := []struct {
		name   string
		tamper func(t *testing.T, victim *http.Client, cb *url.URL) (*http.Client, string)
		status int
	}{
		{"wrong state", func(t *testing.T, c *http.Client, cb *url.URL) (*http.Client, string) {
			q := cb.Query()
			q.Set("state", "forged")
			cb.RawQuery = q.Encode()
			return c, cb.String()
		}, http.StatusBadRequest},
		{"no login cookie (another browser)", func(t *testing.T, _ *http.Client, cb *url.URL) (*http.Client, string) {
			return browser(t), cb.String()
		}, http.StatusBadRequest},
		{"provider error", func(t *testing.T, c *http.Client, cb *url.URL) (*http.Client, string) {
			q := cb.Query()
			q.Del("code")
			q.Set("error", "access_denied")
			cb.RawQuery = q.Encode()
			return c, cb.String()
		}, http.StatusUnauthorized},
		{"another issuer (mix-up)", func(t *testing.T, c *http.Client, cb *url.URL) (*http.Client, string) {
			q := cb.Query()
			q.Set("iss", "https://evil.example.com")
			cb.RawQuery = q.Encode()
			return c, cb.String()
		}, http.StatusBadRequest},
		{"no code", func(t *testing.T, c *http.Client, cb *url.URL) (*http.Client, string) {
			q := cb.Query()
			q.Del("code")
			cb.RawQuery = q.Encode()
			return c, cb.String()
		}, http.StatusBadRequest},
		{"code of another login (PKCE)", func(t *testing.T, c *http.Client, cb *url.URL) (*http.Client, string) {
			// The attacker signs in themselves and hands their code to the
			// victim's callback, with the victim's state.
			attacker := browser(t)
			theirs := st.signIn(t, attacker, st.startLogin(t, attacker, "/"), "user", "test")
			q := cb.Query()
			q.Set("code", theirs.Query().Get("code"))
			cb.RawQuery = q.Encode()
			return c, cb.String()
		}, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			victim := browser(t)
			cb := st.signIn(t, victim, st.startLogin(t, victim, "/"), "admin", "test")
			c, u := tc.tamper(t, victim, cb)
			resp, body := do(t, c, "GET", u, nil, nil)
			if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%s %s", resp.Status, body)
			}
			for _, ck := range resp.Cookies() {
				if ck.Name == auth.InsecureSessionCookie && ck.Value != "" {
					t.Fatal("a session was created")
				}
			}
			if code, _, _ := st.me(t, c); code != http.StatusUnauthorized {
				t.Fatalf("signed in after a rejected callback: %d", code)
			}
		})
	}
}

func TestLoginExpires(t *testing.T) {
	st := newLocalStack(t, stackOpts{loginTTL: time.Nanosecond})
	c := browser(t)
	cb := st.signIn(t, c, st.startLogin(t, c, "/"), "admin", "test")
	if resp, body := do(t, c, "GET", cb.String(), nil, nil); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("late callback: %s %s", resp.Status, body)
	}
}

func TestLoginReturnToStaysOnSite(t *testing.T) {
	st := newLocalStack(t, stackOpts{})
	for _, rt := range []string{"https://evil.example.com/", "//evil.example.com/x", "/\\evil.example.com", "javascript:alert(1)", "/ok\r\nSet-Cookie: x=y"} {
		c := browser(t)
		cb := st.signIn(t, c, st.startLogin(t, c, rt), "user", "test")
		resp, _ := do(t, c, "GET", cb.String(), nil, nil)
		if got := resp.Header.Get("Location"); got != "/" {
			t.Errorf("return_to %q led to %q", rt, got)
		}
	}
}

func TestSessionRefreshAgainstDevProvider(t *testing.T) {
	// Access tokens live 30 s, less than the 60 s refresh margin: every
	// request through the session refreshes its tokens.
	st := newLocalStack(t, stackOpts{accessTTL: 30 * time.Second})
	c := browser(t)
	cb := st.signIn(t, c, st.startLogin(t, c, "/"), "manager", "test")
	if resp, _ := do(t, c, "GET", cb.String(), nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback: %s", resp.Status)
	}
	before := st.tokenCalls.Load()
	for range 2 {
		code, me, raw := st.me(t, c)
		if code != http.StatusOK || !slices.Equal(me.Roles, []string{"manager"}) {
			t.Fatalf("me: %d %s", code, raw)
		}
	}
	if n := st.tokenCalls.Load() - before; n != 2 {
		t.Fatalf("%d refreshes for 2 requests, want 2", n)
	}
}

func TestBearerTokensFromDevProvider(t *testing.T) {
	st := newLocalStack(t, stackOpts{})
	ctx := context.Background()
	cases := []struct {
		user  string
		roles []string
	}{
		{"admin", []string{"admin"}},
		{"manager", []string{"manager"}},
		{"user", []string{"user"}},
		{"guest", []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.user, func(t *testing.T) {
			tok, err := devidp.Token(ctx, st.srv.URL, tc.user, "test")
			if err != nil {
				t.Fatal(err)
			}
			r := httptest.NewRequest("POST", st.srv.URL+"/api/workers", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			p, err := st.svc.Authenticator.Authenticate(r) // bearer writes need no CSRF header
			if err != nil {
				t.Fatal(err)
			}
			if p.Username != tc.user || !slices.Equal(p.Roles, tc.roles) || p.HasAccess() != (len(tc.roles) > 0) {
				t.Fatalf("principal %+v", p)
			}
		})
	}
	if _, err := devidp.Token(ctx, st.srv.URL, "admin", "wrong"); err == nil {
		t.Fatal("a wrong password gave a token")
	}
}
