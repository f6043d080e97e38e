// Package keycloaktest gives tests real Keycloak-issued tokens: the
// Keycloak that `make test` starts (scripts/keycloak.sh) with the realm
// of deploy/keycloak/cmlcm-realm.json, whose address it exports as
// KEYCLOAK_URL.
//
// A test that needs Keycloak calls Require. Without KEYCLOAK_URL the test
// FAILS and says to run it through `make test`, so a run that silently
// skipped the real-IdP tests never looks green; CMLCM_NO_KEYCLOAK=1 turns
// that into a skip, explicitly, for quick local runs.
package keycloaktest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test realm (deploy/keycloak/cmlcm-realm.json).
const (
	Realm        = "cmlcm"
	ClientID     = "cmlcm"
	ClientSecret = "cmlcm-test-secret" // a test realm's secret, not a real one
	Password     = "test"

	EnvURL  = "KEYCLOAK_URL"      // http://127.0.0.1:PORT, set by scripts/keycloak.sh
	EnvSkip = "CMLCM_NO_KEYCLOAK" // "1": skip instead of failing without Keycloak
	EnvWait = "KEYCLOAK_WAIT"     // how long Require waits for Keycloak to answer (Go duration, default 7m)
)

// Users are the realm's test users and their realm roles.
var Users = map[string][]string{
	"admin":   {"admin"},
	"manager": {"manager"},
	"user":    {"user"},
	"guest":   {},
}

// Server is a running Keycloak with the test realm.
type Server struct {
	// URL is the server's base URL; Issuer the realm's issuer.
	URL, Issuer string
	hc          *http.Client

	mu    sync.Mutex
	cache map[string]*TokenResponse
}

var (
	once   sync.Once
	shared *Server
	errUp  error
)

// Require returns the Keycloak of KEYCLOAK_URL, failing the test when it
// is not set (or skipping it when CMLCM_NO_KEYCLOAK=1) or does not answer.
func Require(t testing.TB) *Server {
	t.Helper()
	base := strings.TrimSuffix(os.Getenv(EnvURL), "/")
	if base == "" {
		if os.Getenv(EnvSkip) == "1" {
			t.Skip("no Keycloak: CMLCM_NO_KEYCLOAK=1")
		}
		t.Fatalf("this test needs the real Keycloak: run it through `make test` (scripts/test.sh starts Keycloak and exports %s), "+
			"or start one with `scripts/keycloak.sh start` and `source .tools/keycloak/env`; set %s=1 to skip it explicitly", EnvURL, EnvSkip)
	}
	once.Do(func() {
		s := &Server{URL: base, Issuer: base + "/realms/" + Realm, hc: &http.Client{Timeout: 15 * time.Second}, cache: map[string]*TokenResponse{}}
		// `make test` launches Keycloak without waiting for it (its start
		// overlaps compiling and running the other tests): wait here.
		wait := 7 * time.Minute
		if d, err := time.ParseDuration(os.Getenv(EnvWait)); err == nil && d > 0 {
			wait = d
		}
		deadline := time.Now().Add(wait)
		for {
			errUp = s.ping()
			if errUp == nil {
				shared = s
				return
			}
			if time.Now().After(deadline) {
				return
			}
			time.Sleep(500 * time.Millisecond)
		}
	})
	if errUp != nil {
		t.Fatalf("%s=%s does not answer (%v): is Keycloak running? (scripts/keycloak.sh start; log in .tools/keycloak/run/)", EnvURL, base, errUp)
	}
	return shared
}

// ping fetches the realm's discovery document.
func (s *Server) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Issuer+"/.well-known/openid-configuration", nil)
	resp, err := s.hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("discovery: %s", resp.Status)
	}
	return nil
}

// TokenResponse is a token endpoint answer.
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	IDToken      string `json:"id_token"`
	RefreshToken string `json:"refresh_token"`
	ExpiresIn    int    `json:"expires_in"`
	obtained     time.Time
}

// Tokens signs user in with the password grant (direct access grants are
// enabled on the test client only).
func (s *Server) Tokens(ctx context.Context, user, password string) (*TokenResponse, error) {
	form := url.Values{"grant_type": {"password"}, "client_id": {ClientID}, "client_secret": {ClientSecret},
		"username": {user}, "password": {password}, "scope": {"openid profile email"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Issuer+"/protocol/openid-connect/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("keycloak token endpoint: %s: %s", resp.Status, body)
	}
	var tr TokenResponse
	if err := json.Unmarshal(body, &tr); err != nil {
		return nil, err
	}
	tr.obtained = time.Now()
	return &tr, nil
}

// AccessToken returns an access token of a test user (password "test"),
// reused while it has more than a minute to live.
func (s *Server) AccessToken(t testing.TB, user string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if tr, ok := s.cache[user]; ok && time.Since(tr.obtained) < time.Duration(tr.ExpiresIn)*time.Second-time.Minute {
		return tr.AccessToken
	}
	tr, err := s.Tokens(context.Background(), user, Password)
	if err != nil {
		t.Fatalf("Keycloak token for %s: %v", user, err)
	}
	s.cache[user] = tr
	return tr.AccessToken
}
