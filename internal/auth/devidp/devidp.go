// Package devidp is the local server's development OpenID Provider: a
// small, real OIDC provider (discovery, JWKS, an authorization endpoint
// with a login form, a token endpoint with authorization code + PKCE,
// refresh and the password grant) with demo users, so that local mode
// signs people in through exactly the code path production uses against
// Keycloak or Cognito.
//
// It is for local mode only: New refuses to build one unless told it runs
// in local mode, and refuses inside AWS Lambda whatever it is told.
package devidp

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/cmlcm/cmlcm/internal/auth"
)

// Defaults.
const (
	DefaultClientID        = "cmlcm-local"
	DefaultPassword        = "test"
	DefaultAccessTokenTTL  = 15 * time.Minute
	DefaultRefreshTokenTTL = 12 * time.Hour
	// codeTTL: an authorization code is redeemed within seconds.
	codeTTL = time.Minute
	// KeyFile is the signing key's file name in the data directory.
	KeyFile = "devidp-signing-key.pem"
)

// ErrNotLocal: the provider is only for local mode.
var ErrNotLocal = errors.New("devidp: the development identity provider runs only in local mode")

// User is a demo account.
type User struct {
	Username string
	Password string
	Roles    []string
	Email    string
	Name     string
}

// DemoUsers are admin, manager and user (each with that role) and guest
// (signed in, no role), all with password.
func DemoUsers(password string) []User {
	if password == "" {
		password = DefaultPassword
	}
	mk := func(name, display string, roles ...string) User {
		return User{Username: name, Password: password, Roles: roles, Email: name + "@cmlcm.local", Name: display}
	}
	return []User{
		mk("admin", "Ada Admin", auth.RoleAdmin),
		mk("manager", "Max Manager", auth.RoleManager),
		mk("user", "Uma User", auth.RoleUser),
		mk("guest", "Gus Guest"),
	}
}

// Config configures New.
type Config struct {
	// LocalMode must be true: the caller states it runs the local server.
	LocalMode bool
	// Issuer is the provider's URL, e.g. http://127.0.0.1:8080/idp; its
	// path prefixes every endpoint Handler serves.
	Issuer string
	// DataDir holds the signing key (KeyFile, mode 0600), created on
	// first start, so tokens survive restarts.
	DataDir string
	// ClientID is the one client (public, PKCE required). Default
	// DefaultClientID. ClientSecret, when set, is required from it for
	// the code and refresh grants and revocation (the server's login).
	ClientID     string
	ClientSecret string
	// RedirectURIs the client may use; empty allows any URL on the
	// issuer's origin (the local server's own callback).
	RedirectURIs []string
	// Users default to DemoUsers("test").
	Users           []User
	AccessTokenTTL  time.Duration
	RefreshTokenTTL time.Duration
	Logger          *slog.Logger
	Now             func() time.Time
}

// Provider is the development OpenID Provider.
type Provider struct {
	cfg    Config
	key    *signingKey
	base   *url.URL
	log    *slog.Logger
	now    func() time.Time
	users  map[string]User
	ttlAT  time.Duration
	ttlRT  time.Duration
	issuer string

	mu      sync.Mutex
	codes   map[string]codeGrant
	revoked map[string]time.Time // refresh token ids → their expiry
}

// codeGrant is an authorization code's pending grant.
type codeGrant struct {
	clientID, redirectURI, challenge, nonce, scope, username string
	expires                                                  time.Time
}

// New builds the provider, creating or loading its signing key.
func New(cfg Config) (*Provider, error) {
	if !cfg.LocalMode {
		return nil, ErrNotLocal
	}
	if os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" {
		return nil, fmt.Errorf("%w (this process runs in AWS Lambda)", ErrNotLocal)
	}
	base, err := url.Parse(strings.TrimSuffix(cfg.Issuer, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("devidp: issuer %q is not an http(s) URL", cfg.Issuer)
	}
	if cfg.DataDir == "" {
		return nil, errors.New("devidp: a data directory is required (it keeps the signing key)")
	}
	if cfg.ClientID == "" {
		cfg.ClientID = DefaultClientID
	}
	if cfg.Users == nil {
		cfg.Users = DemoUsers(DefaultPassword)
	}
	key, err := loadOrCreateKey(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	p := &Provider{cfg: cfg, key: key, base: base, log: cfg.Logger, now: cfg.Now, users: map[string]User{},
		ttlAT: cfg.AccessTokenTTL, ttlRT: cfg.RefreshTokenTTL, issuer: base.String(),
		codes: map[string]codeGrant{}, revoked: map[string]time.Time{}}
	if p.log == nil {
		p.log = slog.Default()
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.ttlAT <= 0 {
		p.ttlAT = DefaultAccessTokenTTL
	}
	if p.ttlRT <= 0 {
		p.ttlRT = DefaultRefreshTokenTTL
	}
	for _, u := range cfg.Users {
		if u.Username == "" || u.Password == "" {
			return nil, errors.New("devidp: every user needs a username and a password")
		}
		p.users[u.Username] = u
	}
	return p, nil
}

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.issuer }

// ClientID is the provider's client id.
func (p *Provider) ClientID() string { return p.cfg.ClientID }

// HealthInfo is what the local server's /api/health announces for
// `cmlcm token` (see Token).
func (p *Provider) HealthInfo() map[string]string {
	return map[string]string{"issuer": p.issuer, "clientId": p.cfg.ClientID}
}

// IssuerConfig is how the verifier trusts this provider.
func (p *Provider) IssuerConfig() auth.IssuerConfig {
	return auth.IssuerConfig{Issuer: p.issuer, Audiences: []string{p.cfg.ClientID}, ClientIDs: []string{p.cfg.ClientID}}
}

// LoginConfig is the OIDC login against this provider for the server at
// serverURL (e.g. http://127.0.0.1:8080).
func (p *Provider) LoginConfig(serverURL string) auth.LoginConfig {
	serverURL = strings.TrimSuffix(serverURL, "/")
	return auth.LoginConfig{Issuer: p.issuer, ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
		RedirectURL: serverURL + "/api/auth/callback", PostLogoutRedirectURL: serverURL + "/"}
}

// Mount is the path prefix to mount Handler at ("/idp/").
func (p *Provider) Mount() string { return strings.TrimSuffix(p.base.Path, "/") + "/" }

// Handler serves the provider's endpoints under the issuer's path.
func (p *Provider) Handler() http.Handler {
	b := strings.TrimSuffix(p.base.Path, "/")
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+b+"/.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET "+b+"/jwks", p.jwks)
	mux.HandleFunc("GET "+b+"/authorize", p.authorize)
	mux.HandleFunc("POST "+b+"/authorize", p.authorize)
	mux.HandleFunc("POST "+b+"/token", p.token)
	mux.HandleFunc("POST "+b+"/revoke", p.revoke)
	mux.HandleFunc("GET "+b+"/logout", p.logout)
	return mux
}

func (p *Provider) endpoint(name string) string { return p.issuer + "/" + name }

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                p.issuer,
		"authorization_endpoint":                p.endpoint("authorize"),
		"token_endpoint":                        p.endpoint("token"),
		"jwks_uri":                              p.endpoint("jwks"),
		"revocation_endpoint":                   p.endpoint("revoke"),
		"end_session_endpoint":                  p.endpoint("logout"),
		"response_types_supported":              []string{"code"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token", "password"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"},
		"code_challenge_methods_supported":      []string{"S256"},
		"scopes_supported":                      []string{"openid", "profile", "email"},
		"token_endpoint_auth_methods_supported": []string{"none", "client_secret_basic", "client_secret_post"},
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nonce", "preferred_username", "email", "name", "realm_access"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, p.key.jwks)
}

// checkPassword compares in constant time per user; an unknown user costs
// the same as a wrong password.
func (p *Provider) checkPassword(username, password string) (User, bool) {
	u, ok := p.users[username]
	want := u.Password
	if !ok {
		want = "\x00not-a-user"
	}
	match := subtle.ConstantTimeCompare([]byte(password), []byte(want)) == 1
	return u, ok && match
}

// redirectAllowed: exact match with a configured URI, or any URL on the
// issuer's own origin when none are configured.
func (p *Provider) redirectAllowed(raw string) bool {
	if raw == "" {
		return false
	}
	if len(p.cfg.RedirectURIs) > 0 {
		return slices.Contains(p.cfg.RedirectURIs, raw)
	}
	return p.sameOrigin(raw)
}

// sameOrigin: raw is a URL on the issuer's scheme and host (the local
// server itself).
func (p *Provider) sameOrigin(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == p.base.Scheme && u.Host == p.base.Host && u.Fragment == "" && u.User == nil
}

// checkClient authenticates the client at the token endpoint: the client
// id must be ours and, when a secret is configured and needSecret, the
// secret right. (The password grant of `cmlcm token` sends no secret: a
// script on the developer's machine is not the server's confidential
// client.)
func (p *Provider) checkClient(r *http.Request, needSecret bool) bool {
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != p.cfg.ClientID {
		return false
	}
	return !needSecret || p.cfg.ClientSecret == "" || subtle.ConstantTimeCompare([]byte(secret), []byte(p.cfg.ClientSecret)) == 1
}

func (p *Provider) newCode(g codeGrant) string {
	code := randomString()
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for c, old := range p.codes {
		if now.After(old.expires) {
			delete(p.codes, c)
		}
	}
	p.codes[code] = g
	return code
}

// takeCode redeems a code once.
func (p *Provider) takeCode(code string) (codeGrant, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.codes[code]
	delete(p.codes, code)
	if !ok || p.now().After(g.expires) {
		return codeGrant{}, false
	}
	return g, true
}

// pkceS256 is the S256 code challenge of a verifier (RFC 7636 §4.2).
func pkceS256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// claimsFor are the claims every token of u shares.
func (p *Provider) claimsFor(u User, now time.Time, ttl time.Duration) jwt.MapClaims {
	return jwt.MapClaims{
		"iss": p.issuer, "sub": u.Username, "iat": now.Unix(), "exp": now.Add(ttl).Unix(), "jti": randomString(),
	}
}
