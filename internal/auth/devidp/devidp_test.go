package devidp

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/auth"
)

func newProvider(t *testing.T, dir string, mutate ...func(*Config)) (*Provider, *httptest.Server) {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := Config{LocalMode: true, Issuer: srv.URL + "/idp", DataDir: dir}
	for _, m := range mutate {
		m(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle(p.Mount(), p.Handler())
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"mode": "local", "devIdentityProvider": p.HealthInfo()})
	})
	return p, srv
}

func postForm(t *testing.T, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestRefusesOutsideLocalMode(t *testing.T) {
	if _, err := New(Config{Issuer: "http://127.0.0.1:8080/idp", DataDir: t.TempDir()}); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("without LocalMode: %v", err)
	}
	t.Setenv("AWS_LAMBDA_FUNCTION_NAME", "cmlcm-prod-authorizer")
	if _, err := New(Config{LocalMode: true, Issuer: "http://127.0.0.1:8080/idp", DataDir: t.TempDir()}); !errors.Is(err, ErrNotLocal) {
		t.Fatalf("in Lambda: %v", err)
	}
}

func TestSigningKeyFile(t *testing.T) {
	dir := t.TempDir()
	p1, _ := newProvider(t, dir)
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %o, want 600", fi.Mode().Perm())
	}
	p2, _ := newProvider(t, dir)
	if p1.key.kid != p2.key.kid {
		t.Fatal("a restart changed the signing key")
	}
	if err := os.Chmod(filepath.Join(dir, KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{LocalMode: true, Issuer: "http://127.0.0.1:1/idp", DataDir: dir}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key was used: %v", err)
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	p, srv := newProvider(t, t.TempDir())
	resp, err := http.Get(srv.URL + "/idp/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var md map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md["issuer"] != p.Issuer() || md["jwks_uri"] != p.Issuer()+"/jwks" || md["token_endpoint"] != p.Issuer()+"/token" {
		t.Fatalf("discovery %v", md)
	}
	resp, err = http.Get(srv.URL + "/idp/jwks")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(raw), `"kid":"`+p.key.kid+`"`) || strings.Contains(string(raw), `"d":`) {
		t.Fatalf("JWKS %s", raw)
	}
}

func TestPasswordAndRefreshGrants(t *testing.T) {
	p, srv := newProvider(t, t.TempDir())
	v, err := auth.NewVerifier(auth.VerifierConfig{Issuers: []auth.IssuerConfig{p.IssuerConfig()}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ctx := context.Background()
	tokenURL := srv.URL + "/idp/token"

	status, out := postForm(t, tokenURL, url.Values{"grant_type": {"password"}, "client_id": {DefaultClientID}, "username": {"manager"}, "password": {"test"}})
	if status != http.StatusOK {
		t.Fatalf("password grant: %d %v", status, out)
	}
	pr, err := v.Verify(ctx, out["access_token"].(string))
	if err != nil || pr.Username != "manager" || !slices.Equal(pr.Roles, []string{"manager"}) {
		t.Fatalf("access token: %+v %v", pr, err)
	}
	if _, err := v.Verify(ctx, out["id_token"].(string)); err == nil {
		t.Fatal("the ID token passes as an access token")
	}
	if _, err := v.Verify(ctx, out["refresh_token"].(string)); err == nil {
		t.Fatal("the refresh token passes as an access token")
	}

	status, ref := postForm(t, tokenURL, url.Values{"grant_type": {"refresh_token"}, "client_id": {DefaultClientID}, "refresh_token": {out["refresh_token"].(string)}})
	if status != http.StatusOK || ref["access_token"] == out["access_token"] {
		t.Fatalf("refresh: %d %v", status, ref)
	}
	// Revoked refresh tokens are refused.
	if status, _ := postForm(t, srv.URL+"/idp/revoke", url.Values{"client_id": {DefaultClientID}, "token": {out["refresh_token"].(string)}}); status != http.StatusOK {
		t.Fatalf("revoke: %d", status)
	}
	if status, e := postForm(t, tokenURL, url.Values{"grant_type": {"refresh_token"}, "client_id": {DefaultClientID}, "refresh_token": {out["refresh_token"].(string)}}); status != http.StatusBadRequest || e["error"] != "invalid_grant" {
		t.Fatalf("revoked refresh: %d %v", status, e)
	}

	bad := []struct {
		name string
		form url.Values
		code string
	}{
		{"wrong password", url.Values{"grant_type": {"password"}, "client_id": {DefaultClientID}, "username": {"admin"}, "password": {"x"}}, "invalid_grant"},
		{"unknown user", url.Values{"grant_type": {"password"}, "client_id": {DefaultClientID}, "username": {"root"}, "password": {"test"}}, "invalid_grant"},
		{"unknown client", url.Values{"grant_type": {"password"}, "client_id": {"other"}, "username": {"admin"}, "password": {"test"}}, "invalid_client"},
		{"unknown grant", url.Values{"grant_type": {"client_credentials"}, "client_id": {DefaultClientID}}, "unsupported_grant_type"},
		{"access token as refresh token", url.Values{"grant_type": {"refresh_token"}, "client_id": {DefaultClientID}, "refresh_token": {out["access_token"].(string)}}, "invalid_grant"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, e := postForm(t, tokenURL, tc.form); e["error"] != tc.code {
				t.Fatalf("error %v, want %s", e, tc.code)
			}
		})
	}
}

func TestAuthorizationCodeGrant(t *testing.T) {
	p, srv := newProvider(t, t.TempDir())
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	verifier := "a-verifier-of-at-least-forty-three-characters-0123456789"
	redirect := srv.URL + "/api/auth/callback"
	authz := url.Values{"client_id": {DefaultClientID}, "redirect_uri": {redirect}, "response_type": {"code"}, "scope": {"openid profile"},
		"state": {"st"}, "nonce": {"nn"}, "code_challenge": {pkceS256(verifier)}, "code_challenge_method": {"S256"}}
	login := func(form url.Values) *http.Response {
		t.Helper()
		f := url.Values{}
		for k, v := range form {
			f[k] = v
		}
		f.Set("username", "admin")
		f.Set("password", "test")
		resp, err := noFollow.PostForm(p.Issuer()+"/authorize", f)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	code := func() string {
		resp := login(authz)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc.Query().Get("state") != "st" || loc.Query().Get("iss") != p.Issuer() {
			t.Fatalf("authorize: %s → %s", resp.Status, loc)
		}
		return loc.Query().Get("code")
	}
	exchange := func(code, redirectURI, verifier string) (int, map[string]any) {
		return postForm(t, srv.URL+"/idp/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {DefaultClientID},
			"code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier}})
	}

	c := code()
	if status, out := exchange(c, redirect, "wrong-verifier-wrong-verifier-wrong-verifier-00"); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("wrong PKCE verifier: %d %v", status, out)
	}
	if status, _ := exchange(c, redirect, verifier); status != http.StatusBadRequest {
		t.Fatal("a code survived a failed redemption")
	}
	c = code()
	if status, _ := exchange(c, srv.URL+"/elsewhere", verifier); status != http.StatusBadRequest {
		t.Fatal("redirect_uri mismatch accepted")
	}
	c = code()
	status, out := exchange(c, redirect, verifier)
	if status != http.StatusOK || out["id_token"] == nil {
		t.Fatalf("exchange: %d %v", status, out)
	}
	if status, _ := exchange(c, redirect, verifier); status != http.StatusBadRequest {
		t.Fatal("a code was redeemed twice")
	}

	// Requests the provider refuses to even show a form for.
	refuse := []struct {
		name   string
		change url.Values
		status int
	}{
		{"foreign redirect_uri", url.Values{"redirect_uri": {"https://evil.example.com/cb"}}, http.StatusBadRequest},
		{"unknown client", url.Values{"client_id": {"x"}}, http.StatusBadRequest},
		{"no PKCE", url.Values{"code_challenge": {""}}, http.StatusFound},
		{"plain PKCE", url.Values{"code_challenge_method": {"plain"}}, http.StatusFound},
		{"no openid scope", url.Values{"scope": {"profile"}}, http.StatusFound},
	}
	for _, tc := range refuse {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range authz {
				q[k] = v
			}
			for k, v := range tc.change {
				q[k] = v
			}
			resp, err := noFollow.Get(p.Issuer() + "/authorize?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("%s", resp.Status)
			}
			if tc.status == http.StatusFound {
				loc, _ := url.Parse(resp.Header.Get("Location"))
				if !strings.HasPrefix(loc.String(), redirect) || loc.Query().Get("error") == "" || loc.Query().Get("code") != "" {
					t.Fatalf("redirect %s", loc)
				}
			}
		})
	}
}

func TestTokenClient(t *testing.T) {
	_, srv := newProvider(t, t.TempDir(), func(c *Config) { c.AccessTokenTTL = time.Minute })
	tok, err := Token(context.Background(), srv.URL, "admin", "test")
	if err != nil || strings.Count(tok, ".") != 2 {
		t.Fatalf("token %q, %v", tok, err)
	}
	if _, err := Token(context.Background(), srv.URL, "admin", "nope"); err == nil {
		t.Fatal("wrong password accepted")
	}
	// A server that is not in local mode is refused before any password
	// is sent.
	posted := false
	prod := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			posted = true
		}
		_, _ = w.Write([]byte(`{"mode":"aws"}`))
	}))
	defer prod.Close()
	if _, err := Token(context.Background(), prod.URL, "admin", "test"); err == nil || posted {
		t.Fatalf("production server: %v (posted=%v)", err, posted)
	}
}

func TestConfidentialClient(t *testing.T) {
	p, srv := newProvider(t, t.TempDir(), func(c *Config) { c.ClientSecret = "s3cret" })
	tokenURL := srv.URL + "/idp/token"
	// The server's grants need the secret…
	_, out := postForm(t, tokenURL, url.Values{"grant_type": {"refresh_token"}, "client_id": {DefaultClientID}, "refresh_token": {"x"}})
	if out["error"] != "invalid_client" {
		t.Fatalf("refresh without the secret: %v", out)
	}
	_, out = postForm(t, tokenURL, url.Values{"grant_type": {"authorization_code"}, "client_id": {DefaultClientID}, "client_secret": {"wrong"}, "code": {"x"}})
	if out["error"] != "invalid_client" {
		t.Fatalf("code with a wrong secret: %v", out)
	}
	// …the script's password grant does not.
	status, out := postForm(t, tokenURL, url.Values{"grant_type": {"password"}, "client_id": {DefaultClientID}, "username": {"user"}, "password": {"test"}})
	if status != http.StatusOK {
		t.Fatalf("password grant: %d %v", status, out)
	}
	_, out = postForm(t, tokenURL, url.Values{"grant_type": {"refresh_token"}, "client_id": {DefaultClientID}, "client_secret": {"s3cret"}, "refresh_token": {out["refresh_token"].(string)}})
	if out["access_token"] == nil {
		t.Fatalf("refresh with the secret: %v", out)
	}
	_ = p
}
