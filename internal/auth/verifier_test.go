package auth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestVerifyRejects(t *testing.T) {
	key := newRSAKey(t, "rsa-1")
	iss := newFakeIssuer(t, key)
	other := newFakeIssuer(t, newECKey(t, "other")) // trusted, but with its own keys
	v := newTestVerifier(t,
		IssuerConfig{Issuer: iss.URL(), ClientIDs: []string{"cmlcm"}},
		IssuerConfig{Issuer: other.URL(), Audiences: []string{"cmlcm"}})
	now := time.Now()
	good := key.sign(t, claims(iss.URL(), now, nil))
	if _, err := v.Verify(context.Background(), good); err != nil {
		t.Fatalf("the good token is rejected: %v", err)
	}

	pubDER, err := x509.MarshalPKIXPublicKey(key.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	hmacWith := func(secret []byte) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(iss.URL(), now, nil))
		tok.Header["kid"] = key.kid
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	none := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, claims(iss.URL(), now, nil))
		tok.Header["kid"] = key.kid
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tampered := func() string {
		parts := strings.Split(key.sign(t, claims(iss.URL(), now, jwt.MapClaims{"realm_access": map[string]any{"roles": []any{"user"}}})), ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		var c map[string]any
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatal(err)
		}
		c["realm_access"] = map[string]any{"roles": []any{"admin"}} // escalate
		payload, _ = json.Marshal(c)
		parts[1] = base64.RawURLEncoding.EncodeToString(payload)
		return strings.Join(parts, ".")
	}
	rs384 := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS384, claims(iss.URL(), now, nil))
		tok.Header["kid"] = key.kid
		s, _ := tok.SignedString(key.priv)
		return s
	}

	cases := []struct {
		name, token, reason string
		is                  error
	}{
		{"expired", key.sign(t, claims(iss.URL(), now, jwt.MapClaims{"exp": now.Add(-2 * time.Minute).Unix(), "iat": now.Add(-10 * time.Minute).Unix()})), "token expired", jwt.ErrTokenExpired},
		{"not yet valid", key.sign(t, claims(iss.URL(), now, jwt.MapClaims{"nbf": now.Add(5 * time.Minute).Unix()})), "token not valid yet", jwt.ErrTokenNotValidYet},
		{"issued in the future", key.sign(t, claims(iss.URL(), now, jwt.MapClaims{"iat": now.Add(5 * time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix()})), "token issued in the future", jwt.ErrTokenUsedBeforeIssued},
		{"no expiry", key.sign(t, claims(iss.URL(), now, jwt.MapClaims{"exp": nil})), "token lacks a required claim", jwt.ErrTokenRequiredClaimMissing},
		{"untrusted issuer", key.sign(t, claims("https://evil.example.com/realms/cmlcm", now, nil)), "the token's issuer is not trusted", nil},
		{"trusted issuer, another issuer's key", key.sign(t, claims(other.URL(), now, jwt.MapClaims{"aud": "cmlcm"})), "unknown signing key", nil},
		{"wrong audience", key.sign(t, claims(iss.URL(), now, jwt.MapClaims{"azp": "another-client"})), "the token is not for this application (audience)", jwt.ErrTokenInvalidAudience},
		{"alg none", none(), `signing algorithm "none" is not allowed`, jwt.ErrTokenSignatureInvalid},
		{"HS256 with the public key (PEM) as secret", hmacWith(pubPEM), `signing algorithm "HS256" is not allowed`, jwt.ErrTokenSignatureInvalid},
		{"HS256 with the public key (DER) as secret", hmacWith(pubDER), `signing algorithm "HS256" is not allowed`, jwt.ErrTokenSignatureInvalid},
		{"RS384", rs384(), `signing algorithm "RS384" is not allowed`, jwt.ErrTokenSignatureInvalid},
		{"unknown kid", newRSAKey(t, "rsa-unknown").sign(t, claims(iss.URL(), now, nil)), "unknown signing key", nil},
		{"no kid", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims(iss.URL(), now, nil))
			s, _ := tok.SignedString(key.priv)
			return s
		}(), "the token names no signing key (kid)", nil},
		{"tampered payload", tampered(), "bad signature", jwt.ErrTokenSignatureInvalid},
		{"ID token used as access token", key.sign(t, claims(iss.URL(), now, jwt.MapClaims{"typ": "ID", "aud": "cmlcm"})), "a ID token is not an access token", nil},
		{"Cognito ID token used as access token", key.sign(t, claims(iss.URL(), now, jwt.MapClaims{"typ": nil, "token_use": "id"})), "a id token is not an access token", nil},
		{"refresh token", key.sign(t, claims(iss.URL(), now, jwt.MapClaims{"typ": "Refresh"})), "a Refresh token is not an access token", nil},
		{"no subject", key.sign(t, claims(iss.URL(), now, jwt.MapClaims{"sub": nil})), "the token has no subject", nil},
		{"empty", "", "empty token", nil},
		{"garbage", "not.a.jwt", "malformed token", nil},
		{"too large", strings.Repeat("a", maxTokenBytes+1), "token too large", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tc.token)
			if err == nil {
				t.Fatalf("accepted: %+v", p)
			}
			if !IsInvalid(err) {
				t.Fatalf("error %v is not an *InvalidError", err)
			}
			if err.Error() != tc.reason {
				t.Errorf("reason %q, want %q", err.Error(), tc.reason)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if strings.Contains(err.Error(), tc.token) && tc.token != "" {
				t.Error("the error repeats the token")
			}
		})
	}
}

func TestVerifyAccepts(t *testing.T) {
	rsaKey, ecKey := newRSAKey(t, "kc-rsa"), newECKey(t, "cognito-ec")
	kc, cognito := newFakeIssuer(t, rsaKey), newFakeIssuer(t, ecKey)
	v := newTestVerifier(t,
		IssuerConfig{Issuer: kc.URL(), Audiences: []string{"cmlcm"}, ClientIDs: []string{"cmlcm"}},
		IssuerConfig{Issuer: cognito.URL(), ClientIDs: []string{"5r0f0cognitoclient"}})
	now := time.Now()
	cognitoClaims := func(extra jwt.MapClaims) jwt.MapClaims {
		c := jwt.MapClaims{"iss": cognito.URL(), "sub": "0c9e-cognito-sub", "client_id": "5r0f0cognitoclient",
			"token_use": "access", "username": "keycloak_f3a1", "scope": "openid email", "auth_time": now.Unix(),
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		for k, val := range extra {
			c[k] = val
		}
		return c
	}
	cases := []struct {
		name  string
		token string
		want  Principal
	}{
		{"Keycloak, azp", rsaKey.sign(t, claims(kc.URL(), now, nil)),
			Principal{Subject: "f3a1c2d4-0000-4000-8000-000000000001", Username: "ada", Email: "ada@example.com", Name: "Ada Admin", Roles: []string{"admin"}, Issuer: kc.URL()}},
		{"Keycloak, audience mapper", rsaKey.sign(t, claims(kc.URL(), now, jwt.MapClaims{"aud": []any{"cmlcm", "account"}, "azp": "other-frontend"})),
			Principal{Subject: "f3a1c2d4-0000-4000-8000-000000000001", Username: "ada", Email: "ada@example.com", Name: "Ada Admin", Roles: []string{"admin"}, Issuer: kc.URL()}},
		{"Keycloak, no roles", rsaKey.sign(t, claims(kc.URL(), now, jwt.MapClaims{"realm_access": nil, "name": nil, "given_name": "Gus", "family_name": "Guest"})),
			Principal{Subject: "f3a1c2d4-0000-4000-8000-000000000001", Username: "ada", Email: "ada@example.com", Name: "Gus Guest", Roles: []string{}, Issuer: kc.URL()}},
		{"expired within the leeway", rsaKey.sign(t, claims(kc.URL(), now, jwt.MapClaims{"exp": now.Add(-30 * time.Second).Unix()})),
			Principal{Subject: "f3a1c2d4-0000-4000-8000-000000000001", Username: "ada", Email: "ada@example.com", Name: "Ada Admin", Roles: []string{"admin"}, Issuer: kc.URL()}},
		{"Cognito groups", ecKey.sign(t, cognitoClaims(jwt.MapClaims{"cognito:groups": []any{"user", "manager", "eu-west-1_x_Keycloak"}})),
			Principal{Subject: "0c9e-cognito-sub", Username: "keycloak_f3a1", Roles: []string{"manager", "user"}, Issuer: cognito.URL()}},
		{"Cognito custom:roles from the pre-token trigger", ecKey.sign(t, cognitoClaims(jwt.MapClaims{"custom:roles": "[admin, user]"})),
			Principal{Subject: "0c9e-cognito-sub", Username: "keycloak_f3a1", Roles: []string{"admin", "user"}, Issuer: cognito.URL()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := v.Verify(context.Background(), tc.token)
			if err != nil {
				t.Fatal(err)
			}
			if p.ExpiresAt.IsZero() {
				t.Error("no expiry")
			}
			p.ExpiresAt = time.Time{}
			if !equalPrincipal(p, tc.want) {
				t.Errorf("got %+v\nwant %+v", p, tc.want)
			}
		})
	}
}

func equalPrincipal(a, b Principal) bool {
	return a.Subject == b.Subject && a.Username == b.Username && a.Email == b.Email && a.Name == b.Name &&
		slices.Equal(a.Roles, b.Roles) && a.Issuer == b.Issuer && a.ExpiresAt.Equal(b.ExpiresAt)
}

func TestKeyRotation(t *testing.T) {
	k1, k2 := newRSAKey(t, "2026-01"), newECKey(t, "2026-02")
	iss := newFakeIssuer(t, k1)
	v := newTestVerifier(t, IssuerConfig{Issuer: iss.URL(), ClientIDs: []string{"cmlcm"}})
	ctx, now := context.Background(), time.Now()
	if _, err := v.Verify(ctx, k1.sign(t, claims(iss.URL(), now, nil))); err != nil {
		t.Fatal(err)
	}
	if n := iss.fetches.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches, want 1", n)
	}
	// Cached: a second token costs no fetch.
	if _, err := v.Verify(ctx, k1.sign(t, claims(iss.URL(), now, nil))); err != nil {
		t.Fatal(err)
	}
	// The IdP rotates: a token under the new kid makes the verifier refetch.
	iss.setKeys(k2)
	if _, err := v.Verify(ctx, k2.sign(t, claims(iss.URL(), now, nil))); err != nil {
		t.Fatalf("token of the rotated key: %v", err)
	}
	if n := iss.fetches.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches, want 2", n)
	}
	// The withdrawn key is gone from the cache with the refetch.
	if _, err := v.Verify(ctx, k1.sign(t, claims(iss.URL(), now, nil))); err == nil || err.Error() != "unknown signing key" {
		t.Fatalf("token of the withdrawn key: %v", err)
	}
}

func TestUnknownKIDRefetchIsRateLimited(t *testing.T) {
	key := newRSAKey(t, "known")
	iss := newFakeIssuer(t, key)
	v := newTestVerifier(t, IssuerConfig{Issuer: iss.URL(), ClientIDs: []string{"cmlcm"}})
	ctx, now := context.Background(), time.Now()
	if _, err := v.Verify(ctx, key.sign(t, claims(iss.URL(), now, nil))); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := range 20 {
		forged := newRSAKey(t, "forged-"+string(rune('a'+i)))
		if _, err := v.Verify(ctx, forged.sign(t, claims(iss.URL(), now, nil))); err == nil {
			t.Fatal("forged kid accepted")
		}
	}
	// One refetch for the first unknown kid, then the limiter refuses at
	// once (no waiting) until DefaultMinRefreshInterval has passed.
	if n := iss.fetches.Load(); n != 2 {
		t.Errorf("%d JWKS fetches for 20 unknown kids, want 2 (first load + one refresh)", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("20 forged tokens took %s", d)
	}
}

func TestIssuerKeysUnavailable(t *testing.T) {
	key := newRSAKey(t, "k")
	iss := newFakeIssuer(t, key)
	iss.docIssuer = "https://someone-else.example.com"
	v := newTestVerifier(t, IssuerConfig{Issuer: iss.URL(), ClientIDs: []string{"cmlcm"}})
	_, err := v.Verify(context.Background(), key.sign(t, claims(iss.URL(), time.Now(), nil)))
	if !errors.Is(err, ErrKeysUnavailable) || !IsInvalid(err) {
		t.Fatalf("discovery naming another issuer: %v", err)
	}
	if n := iss.fetches.Load(); n != 0 {
		t.Errorf("the JWKS was fetched %d times despite the bad discovery document", n)
	}
}

func TestVerifyIDToken(t *testing.T) {
	key := newRSAKey(t, "k")
	iss := newFakeIssuer(t, key)
	v := newTestVerifier(t, IssuerConfig{Issuer: iss.URL(), ClientIDs: []string{"cmlcm"}})
	now := time.Now()
	id := func(extra jwt.MapClaims) string {
		base := jwt.MapClaims{"typ": "ID", "aud": "cmlcm", "nonce": "n-123", "realm_access": nil}
		for k, val := range extra {
			base[k] = val
		}
		return key.sign(t, claims(iss.URL(), now, base))
	}
	cases := []struct {
		name, token, nonce string
		ok                 bool
	}{
		{"good", id(nil), "n-123", true},
		{"wrong nonce", id(nil), "n-456", false},
		{"no nonce expected", id(nil), "", false},
		{"other client", id(jwt.MapClaims{"aud": "other", "azp": "other"}), "n-123", false},
		{"several audiences without azp", id(jwt.MapClaims{"aud": []any{"cmlcm", "x"}, "azp": nil}), "n-123", false},
		{"an access token", id(jwt.MapClaims{"typ": "Bearer"}), "n-123", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.VerifyIDToken(context.Background(), tc.token, "cmlcm", tc.nonce)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestNewVerifierChecksConfig(t *testing.T) {
	cases := []struct {
		name string
		ic   IssuerConfig
	}{
		{"no audience nor client", IssuerConfig{Issuer: "https://idp.example.com"}},
		{"plain http off loopback", IssuerConfig{Issuer: "http://idp.example.com", Audiences: []string{"a"}}},
		{"relative issuer", IssuerConfig{Issuer: "/realms/x", Audiences: []string{"a"}}},
		{"plain http JWKS", IssuerConfig{Issuer: "https://idp.example.com", JWKSURL: "http://idp.example.com/jwks", Audiences: []string{"a"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewVerifier(VerifierConfig{Issuers: []IssuerConfig{tc.ic}}); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := NewVerifier(VerifierConfig{}); err == nil {
		t.Fatal("no issuer accepted")
	}
}

func TestRoleClaims(t *testing.T) {
	c := jwt.MapClaims{
		"realm_access":   map[string]any{"roles": []any{"Admin", "offline_access"}},
		"cognito:groups": []any{"user"},
		"custom:roles":   `["manager","user"]`,
		"roles":          "user manager",
	}
	cases := []struct {
		paths []string
		want  []string
	}{
		{DefaultRoleClaims, []string{"admin", "manager", "user"}},
		{[]string{"realm_access.roles"}, []string{"admin"}},
		{[]string{"roles"}, []string{"manager", "user"}},
		{[]string{"realm_access.roles.deeper"}, []string{}},
		{[]string{"missing"}, []string{}},
	}
	for _, tc := range cases {
		p := principalFrom(c, IssuerConfig{RoleClaims: tc.paths})
		if !slices.Equal(p.Roles, tc.want) {
			t.Errorf("%v: roles %v, want %v", tc.paths, p.Roles, tc.want)
		}
	}
}
