package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeServer answers like a local server with a development identity
// provider (or like a deployed one when mode is not "local").
func fakeServer(t *testing.T, mode string) *httptest.Server {
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"status": "ok", "mode": mode,
			"devIdentityProvider": map[string]string{"issuer": srv.URL + "/dev-idp", "clientId": "cmlcm-cli"}})
	})
	mux.HandleFunc("GET /dev-idp/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL + "/dev-idp", "token_endpoint": srv.URL + "/dev-idp/token"})
	})
	mux.HandleFunc("POST /dev-idp/token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if r.Form.Get("grant_type") != "password" || r.Form.Get("client_id") != "cmlcm-cli" || r.Form.Get("password") != "test" {
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant", "error_description": "bad credentials"})
			return
		}
		json.NewEncoder(w).Encode(map[string]string{"access_token": "jwt-for-" + r.Form.Get("username"), "token_type": "Bearer"})
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestToken(t *testing.T) {
	srv := fakeServer(t, "local")
	var out strings.Builder
	if err := run(context.Background(), []string{"token", "--server", srv.URL, "--user", "manager"}, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "jwt-for-manager\n" {
		t.Errorf("printed %q", out.String())
	}
	err := run(context.Background(), []string{"token", "--server", srv.URL, "--user", "admin", "--password", "nope"}, &out)
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("bad password: %v", err)
	}
}

func TestTokenRefusesOutsideLocalMode(t *testing.T) {
	srv := fakeServer(t, "aws")
	var out strings.Builder
	err := run(context.Background(), []string{"token", "--server", srv.URL}, &out)
	if err == nil || !strings.Contains(err.Error(), "not a local server") || out.Len() != 0 {
		t.Errorf("err %v, out %q", err, out.String())
	}
}
