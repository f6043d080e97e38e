package auth_test

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/cmlcm/cmlcm/internal/auth"
	"github.com/cmlcm/cmlcm/internal/auth/keycloaktest"
)

// TestKeycloakTokens verifies real Keycloak-issued access tokens of every
// test user with our verifier, under both ways of recognising the client
// (the audience mapper's aud, and azp alone).
func TestKeycloakTokens(t *testing.T) {
	kc := keycloaktest.Require(t)
	configs := map[string]auth.IssuerConfig{
		"audience": {Issuer: kc.Issuer, Audiences: []string{keycloaktest.ClientID}},
		"azp":      {Issuer: kc.Issuer, ClientIDs: []string{keycloaktest.ClientID}},
	}
	for name, ic := range configs {
		t.Run(name, func(t *testing.T) {
			v, err := auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{ic}})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			for user, roles := range keycloaktest.Users {
				t.Run(user, func(t *testing.T) {
					p, err := v.Verify(context.Background(), kc.AccessToken(t, user))
					if err != nil {
						t.Fatal(err)
					}
					if p.Username != user || !slices.Equal(p.Roles, roles) || p.Issuer != kc.Issuer || p.Email != user+"@cmlcm.test" ||
						p.Subject == "" || p.ExpiresAt.Before(time.Now()) || p.HasAccess() != (len(roles) > 0) {
						t.Fatalf("principal %+v, want user %s with roles %v", p, user, roles)
					}
				})
			}
		})
	}
	t.Run("wrong client", func(t *testing.T) {
		v, err := auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{{Issuer: kc.Issuer, Audiences: []string{"other"}, ClientIDs: []string{"other"}}}})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		if _, err := v.Verify(context.Background(), kc.AccessToken(t, "admin")); err == nil {
			t.Fatal("a token for another client was accepted")
		}
	})
	t.Run("ID and refresh tokens are not access tokens", func(t *testing.T) {
		v, err := auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{configs["audience"]}})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		tr, err := kc.Tokens(context.Background(), "admin", keycloaktest.Password)
		if err != nil {
			t.Fatal(err)
		}
		for name, tok := range map[string]string{"id": tr.IDToken, "refresh": tr.RefreshToken} {
			if _, err := v.Verify(context.Background(), tok); err == nil {
				t.Errorf("the %s token was accepted as an access token", name)
			}
		}
	})
}

var formAction = regexp.MustCompile(`<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"`)

// TestKeycloakLoginFlow signs in through Keycloak's own login page with
// our handlers (code + PKCE, state, nonce, confidential client), refreshes
// the session's tokens at Keycloak, and signs out (revocation + the
// end-session URL).
func TestKeycloakLoginFlow(t *testing.T) {
	kc := keycloaktest.Require(t)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "s.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	store, err := auth.NewBoltStore(db, "")
	if err != nil {
		t.Fatal(err)
	}
	svc, err := auth.New(auth.Config{
		Issuers: []auth.IssuerConfig{{Issuer: kc.Issuer, Audiences: []string{keycloaktest.ClientID}}},
		Login: &auth.LoginConfig{Issuer: kc.Issuer, ClientID: keycloaktest.ClientID, ClientSecret: keycloaktest.ClientSecret,
			RedirectURL: srv.URL + "/api/auth/callback", PostLogoutRedirectURL: srv.URL + "/"},
		Store: store, InsecureCookie: true, Refresh: true,
		// Keycloak's access tokens live 5 minutes: refresh at every request.
		RefreshBefore: 10 * time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	h := svc.Handlers()
	mux.Handle("GET /api/auth/login", h["authLogin"])
	mux.Handle("GET /api/auth/callback", h["authCallback"])
	mux.Handle("POST /api/auth/logout", h["authLogout"])
	var meCalls atomic.Int32
	mux.Handle("GET /api/auth/me", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		meCalls.Add(1)
		h["authMe"].ServeHTTP(w, r)
	}))

	c := browser(t)
	resp, _ := do(t, c, "GET", srv.URL+"/api/auth/login?return_to=/%23/fleet", nil, nil)
	authz := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(authz, kc.Issuer+"/protocol/openid-connect/auth?") {
		t.Fatalf("login: %s → %s", resp.Status, authz)
	}
	resp, page := do(t, c, "GET", authz, nil, nil)
	m := formAction.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		t.Fatalf("Keycloak login page: %s (form found: %v)", resp.Status, m != nil)
	}
	resp, body := do(t, c, "POST", html.UnescapeString(m[1]), url.Values{"username": {"manager"}, "password": {keycloaktest.Password}, "credentialId": {""}}, nil)
	cb := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(cb, srv.URL+"/api/auth/callback?") {
		t.Fatalf("Keycloak sign-in: %s → %q\n%.500s", resp.Status, cb, body)
	}
	resp, body = do(t, c, "GET", cb, nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/#/fleet" {
		t.Fatalf("callback: %s %s", resp.Status, body)
	}
	var me auth.Me
	for i := range 2 { // each /me refreshes the tokens at Keycloak
		resp, body = do(t, c, "GET", srv.URL+"/api/auth/me", nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("me #%d: %s %s", i, resp.Status, body)
		}
		if err := json.Unmarshal([]byte(body), &me); err != nil {
			t.Fatal(err)
		}
		if me.Username != "manager" || !slices.Equal(me.Roles, []string{"manager"}) || me.Name != "Max Manager" || me.CSRFToken == "" {
			t.Fatalf("me: %s", body)
		}
	}
	resp, body = do(t, c, "POST", srv.URL+"/api/auth/logout", nil, map[string]string{auth.CSRFHeader: me.CSRFToken})
	var out struct {
		LogoutURL string `json:"logoutUrl"`
	}
	_ = json.Unmarshal([]byte(body), &out)
	lu, _ := url.Parse(out.LogoutURL)
	if resp.StatusCode != http.StatusOK || lu == nil || !strings.HasPrefix(out.LogoutURL, kc.Issuer+"/protocol/openid-connect/logout?") ||
		lu.Query().Get("client_id") != keycloaktest.ClientID || lu.Query().Get("post_logout_redirect_uri") != srv.URL+"/" {
		t.Fatalf("logout: %s %s", resp.Status, body)
	}
	if resp, _ := do(t, c, "GET", srv.URL+"/api/auth/me", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("me after logout: %s", resp.Status)
	}
}
