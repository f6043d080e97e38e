package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/cmlcm/cmlcm/internal/motoserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.Stop()
	os.Exit(code)
}

// testKey is a signing key with its kid.
type testKey struct {
	kid  string
	alg  jwt.SigningMethod
	priv crypto.Signer
}

var (
	rsaOnce sync.Once
	rsaPriv *rsa.PrivateKey
)

// newRSAKey returns an RS256 key; RSA generation is slow, so tests share
// one private key under different kids.
func newRSAKey(t testing.TB, kid string) testKey {
	t.Helper()
	rsaOnce.Do(func() {
		var err error
		if rsaPriv, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return testKey{kid: kid, alg: jwt.SigningMethodRS256, priv: rsaPriv}
}

func newECKey(t testing.TB, kid string) testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, alg: jwt.SigningMethodES256, priv: k}
}

func (k testKey) sign(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(k.alg, claims)
	tok.Header["kid"] = k.kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeIssuer is an OpenID provider as far as the verifier cares: a
// discovery document and a JWKS whose keys a test can rotate, counting
// JWKS fetches.
type fakeIssuer struct {
	srv       *httptest.Server
	mu        sync.Mutex
	keys      []testKey
	fetches   atomic.Int32
	docIssuer string // overrides the discovery document's issuer
}

func newFakeIssuer(t testing.TB, keys ...testKey) *fakeIssuer {
	t.Helper()
	f := &fakeIssuer{keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := f.srv.URL
		if f.docIssuer != "" {
			iss = f.docIssuer
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": iss, "jwks_uri": f.srv.URL + "/jwks",
			"authorization_endpoint": f.srv.URL + "/auth", "token_endpoint": f.srv.URL + "/token"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		f.fetches.Add(1)
		f.mu.Lock()
		defer f.mu.Unlock()
		set := jwkset.JWKSMarshal{}
		for _, k := range f.keys {
			alg := jwkset.AlgRS256
			if k.alg == jwt.SigningMethodES256 {
				alg = jwkset.AlgES256
			}
			j, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{ALG: alg, KID: k.kid, USE: jwkset.UseSig}})
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			set.Keys = append(set.Keys, j.Marshal())
		}
		_ = json.NewEncoder(w).Encode(set)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIssuer) URL() string { return f.srv.URL }

func (f *fakeIssuer) setKeys(keys ...testKey) {
	f.mu.Lock()
	f.keys = keys
	f.mu.Unlock()
}

// claims are a valid Keycloak-shaped access token's claims for iss.
func claims(iss string, now time.Time, extra jwt.MapClaims) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": iss, "sub": "f3a1c2d4-0000-4000-8000-000000000001", "aud": "account", "azp": "cmlcm", "typ": "Bearer",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "preferred_username": "ada",
		"email": "ada@example.com", "name": "Ada Admin",
		"realm_access": map[string]any{"roles": []any{"admin", "default-roles-cmlcm", "offline_access"}},
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
			continue
		}
		c[k] = v
	}
	return c
}

func newTestVerifier(t testing.TB, ics ...IssuerConfig) *Verifier {
	t.Helper()
	v, err := NewVerifier(VerifierConfig{Issuers: ics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// memStore is an in-memory SessionStore for tests that are not about the
// store; it can be made to fail.
type memStore struct {
	mu   sync.Mutex
	m    map[string]memEntry
	fail error
	now  func() time.Time
}

type memEntry struct {
	v   []byte
	exp time.Time
}

func newMemStore() *memStore { return &memStore{m: map[string]memEntry{}, now: time.Now} }

func (s *memStore) Get(_ context.Context, k string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return nil, s.fail
	}
	e, ok := s.m[k]
	if !ok || !s.now().Before(e.exp) {
		return nil, ErrSessionNotFound
	}
	return e.v, nil
}

func (s *memStore) Put(_ context.Context, k string, v []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	s.m[k] = memEntry{v: v, exp: s.now().Add(ttl)}
	return nil
}

func (s *memStore) Delete(_ context.Context, k string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
	return nil
}

func (s *memStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
