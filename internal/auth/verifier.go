package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// Defaults of VerifierConfig.
const (
	DefaultLeeway = 60 * time.Second
	// DefaultMinRefreshInterval: a token naming an unknown key id refetches
	// the issuer's JWKS at most this often, so a stream of forged key ids
	// cannot turn the verifier into a load generator against the IdP.
	DefaultMinRefreshInterval = time.Minute
	// DefaultRefreshInterval: the JWKS is refetched in the background this
	// often, so a key the IdP withdrew stops being accepted.
	DefaultRefreshInterval = time.Hour
	// maxTokenBytes: real access tokens are a few KiB.
	maxTokenBytes = 16 << 10
)

// allowedAlgs are the only signature algorithms accepted. Never "none",
// never HMAC: with HMAC a public key could be abused as the shared secret.
var allowedAlgs = []string{"RS256", "ES256"}

// DefaultRoleClaims are where roles are read from when an issuer names
// none: Keycloak's realm roles, Cognito's groups, and the claims a Cognito
// pre-token-generation trigger may add from the federated Keycloak roles
// (or a Keycloak "User Realm Role" mapper with a flat claim name).
var DefaultRoleClaims = []string{"realm_access.roles", "cognito:groups", "custom:roles", "roles"}

// IssuerConfig is one trusted token issuer.
type IssuerConfig struct {
	// Issuer is the exact "iss" of its tokens, e.g.
	// https://keycloak.example.com/realms/cmlcm or
	// https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf.
	Issuer string
	// JWKSURL overrides the jwks_uri of the issuer's discovery document.
	JWKSURL string
	// A token is for us when its "aud" holds one of Audiences, or its
	// "azp" (Keycloak) or "client_id" (Cognito access tokens have no
	// "aud") is one of ClientIDs. At least one of the two must be set.
	Audiences []string
	ClientIDs []string
	// RoleClaims are claim names or dotted paths holding roles (an array
	// of strings, or one string of comma- or space-separated roles);
	// nil means DefaultRoleClaims. Roles are the union over all of them.
	RoleClaims []string
}

// VerifierConfig configures NewVerifier.
type VerifierConfig struct {
	Issuers []IssuerConfig
	// Leeway tolerates clock skew on exp, nbf and iat (0: DefaultLeeway).
	Leeway time.Duration
	// HTTPClient fetches discovery documents and JWKS; nil builds one with
	// HTTPTimeout. It must have a timeout.
	HTTPClient  *http.Client
	HTTPTimeout time.Duration
	// MinRefreshInterval and RefreshInterval: see the defaults.
	MinRefreshInterval time.Duration
	RefreshInterval    time.Duration
	Logger             *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Verifier verifies access tokens (and, for the login, ID tokens) of the
// trusted issuers. It is safe for concurrent use. Close stops its
// background JWKS refreshes.
type Verifier struct {
	cfg     VerifierConfig
	hc      *http.Client
	log     *slog.Logger
	now     func() time.Time
	issuers map[string]*issuer
	ctx     context.Context
	cancel  context.CancelFunc
}

// issuer holds one trusted issuer's key source, built on first use (so a
// Lambda cold start or the local server does not wait for, or fail on,
// an identity provider that is down).
type issuer struct {
	cfg IssuerConfig

	mu       sync.Mutex
	kf       keyfunc.Keyfunc
	stop     context.CancelFunc // ends kf's refresh goroutine
	failedAt time.Time
	failErr  error
}

// ErrKeysUnavailable: the issuer's signing keys could not be fetched.
var ErrKeysUnavailable = errors.New("the issuer's signing keys are unavailable")

// NewVerifier checks cfg and returns a verifier. No network I/O happens
// until the first token of each issuer.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if len(cfg.Issuers) == 0 {
		return nil, errors.New("auth: no trusted issuer configured")
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.HTTPTimeout <= 0 {
		cfg.HTTPTimeout = DefaultHTTPTimeout
	}
	if cfg.MinRefreshInterval <= 0 {
		cfg.MinRefreshInterval = DefaultMinRefreshInterval
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = DefaultRefreshInterval
	}
	v := &Verifier{cfg: cfg, hc: cfg.HTTPClient, log: cfg.Logger, now: cfg.Now, issuers: map[string]*issuer{}}
	if v.hc == nil {
		v.hc = newHTTPClient(cfg.HTTPTimeout)
	}
	if v.hc.Timeout <= 0 {
		return nil, errors.New("auth: the verifier's HTTP client needs a timeout")
	}
	if v.log == nil {
		v.log = slog.Default()
	}
	if v.now == nil {
		v.now = time.Now
	}
	for _, ic := range cfg.Issuers {
		if ic.Issuer == "" {
			return nil, errors.New("auth: an issuer without its URL")
		}
		if err := checkEndpointURL(ic.Issuer); err != nil {
			return nil, fmt.Errorf("auth: issuer: %w", err)
		}
		if ic.JWKSURL != "" {
			if err := checkEndpointURL(ic.JWKSURL); err != nil {
				return nil, fmt.Errorf("auth: issuer %s: JWKS URL: %w", ic.Issuer, err)
			}
		}
		if len(ic.Audiences) == 0 && len(ic.ClientIDs) == 0 {
			return nil, fmt.Errorf("auth: issuer %s: configure its audiences or client ids: without them any client's token would be accepted", ic.Issuer)
		}
		if ic.RoleClaims == nil {
			ic.RoleClaims = DefaultRoleClaims
		}
		if _, dup := v.issuers[ic.Issuer]; dup {
			return nil, fmt.Errorf("auth: issuer %s configured twice", ic.Issuer)
		}
		v.issuers[ic.Issuer] = &issuer{cfg: ic}
	}
	v.ctx, v.cancel = context.WithCancel(context.Background())
	return v, nil
}

// Close stops the background JWKS refreshes.
func (v *Verifier) Close() { v.cancel() }

// Issuers lists the trusted issuers.
func (v *Verifier) Issuers() []string {
	out := make([]string, 0, len(v.issuers))
	for iss := range v.issuers {
		out = append(out, iss)
	}
	slices.Sort(out)
	return out
}

// Verify verifies an access token and returns its principal. A token that
// is not valid yields an *InvalidError saying why.
func (v *Verifier) Verify(ctx context.Context, raw string) (Principal, error) {
	claims, is, err := v.parse(ctx, raw)
	if err != nil {
		return Principal{}, err
	}
	// An ID or refresh token is not an access token, even when its
	// audience would pass (Keycloak ID tokens carry aud = the client id).
	if typ := claimString(claims, "typ"); typ != "" && !strings.EqualFold(typ, "Bearer") && !strings.EqualFold(typ, "at+jwt") {
		return Principal{}, invalidf(nil, "a %s token is not an access token", typ)
	}
	if use := claimString(claims, "token_use"); use != "" && use != "access" {
		return Principal{}, invalidf(nil, "a %s token is not an access token", use)
	}
	if err := checkAudience(claims, is.cfg); err != nil {
		return Principal{}, err
	}
	return principalFrom(claims, is.cfg), nil
}

// VerifyIDToken verifies an OpenID Connect ID token for clientID (Core
// §3.1.3.7): signature, issuer, times, audience, azp, and the nonce the
// login stored. It returns the principal its claims describe.
func (v *Verifier) VerifyIDToken(ctx context.Context, raw, clientID, nonce string) (Principal, error) {
	claims, is, err := v.parse(ctx, raw)
	if err != nil {
		return Principal{}, err
	}
	if typ := claimString(claims, "typ"); typ != "" && !strings.EqualFold(typ, "ID") {
		return Principal{}, invalidf(nil, "a %s token is not an ID token", typ)
	}
	if use := claimString(claims, "token_use"); use != "" && use != "id" {
		return Principal{}, invalidf(nil, "a %s token is not an ID token", use)
	}
	aud, _ := claims.GetAudience()
	if !slices.Contains(aud, clientID) {
		return Principal{}, invalid("the ID token is not for this client", nil)
	}
	azp := claimString(claims, "azp")
	if (azp != "" && azp != clientID) || (azp == "" && len(aud) > 1) {
		return Principal{}, invalid("the ID token was issued to another party", nil)
	}
	if nonce == "" || !constantTimeEqual(claimString(claims, "nonce"), nonce) {
		return Principal{}, invalid("the ID token's nonce does not match the login", nil)
	}
	return principalFrom(claims, is.cfg), nil
}

// parse checks everything common to access and ID tokens: size, a
// trusted issuer, an allowed algorithm, a key id, the signature with that
// issuer's key, and exp/nbf/iat within the leeway.
func (v *Verifier) parse(ctx context.Context, raw string) (jwt.MapClaims, *issuer, error) {
	if raw == "" {
		return nil, nil, invalid("empty token", nil)
	}
	if len(raw) > maxTokenBytes {
		return nil, nil, invalid("token too large", nil)
	}
	// Read the issuer without trusting anything yet, so an unknown issuer
	// costs no network request.
	unverified := jwt.MapClaims{}
	tok, _, err := jwt.NewParser().ParseUnverified(raw, unverified)
	if err != nil {
		return nil, nil, invalid("malformed token", err)
	}
	iss, _ := unverified.GetIssuer()
	is, ok := v.issuers[iss]
	if !ok {
		return nil, nil, invalid("the token's issuer is not trusted", nil)
	}
	alg, _ := tok.Header["alg"].(string)
	if !slices.Contains(allowedAlgs, alg) {
		return nil, nil, invalidf(jwt.ErrTokenSignatureInvalid, "signing algorithm %q is not allowed", quoteSafe(alg))
	}
	if kid, _ := tok.Header["kid"].(string); kid == "" {
		return nil, nil, invalid("the token names no signing key (kid)", jwt.ErrTokenUnverifiable)
	}
	kf, err := is.keys(v)
	if err != nil {
		return nil, nil, invalid(ErrKeysUnavailable.Error(), errors.Join(ErrKeysUnavailable, err))
	}
	claims := jwt.MapClaims{}
	p := jwt.NewParser(
		jwt.WithValidMethods(allowedAlgs),
		jwt.WithIssuer(iss),
		jwt.WithLeeway(v.cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(v.now),
	)
	if _, err := p.ParseWithClaims(raw, claims, kf.KeyfuncCtx(ctx)); err != nil {
		return nil, nil, parseError(err)
	}
	if sub, _ := claims.GetSubject(); sub == "" {
		return nil, nil, invalid("the token has no subject", nil)
	}
	return claims, is, nil
}

// parseError turns a golang-jwt error into a reason fit for the client.
func parseError(err error) error {
	switch {
	case errors.Is(err, jwkset.ErrKeyNotFound), errors.Is(err, keyfunc.ErrKeyfunc):
		// Not in the JWKS even after a refetch, or a refetch not allowed
		// yet (rate limit), or the JWK is not for this alg / for signing.
		return invalid("unknown signing key", err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return invalid("token expired", err)
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		return invalid("token not valid yet", err)
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return invalid("token issued in the future", err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return invalid("token lacks a required claim", err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return invalid("the token's issuer is not trusted", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return invalid("bad signature", err)
	case errors.Is(err, jwt.ErrTokenMalformed):
		return invalid("malformed token", err)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return invalid("the token cannot be verified", err)
	default:
		return invalid("token not valid", err)
	}
}

// checkAudience applies the issuer's audience / client expectations.
func checkAudience(claims jwt.MapClaims, ic IssuerConfig) error {
	aud, _ := claims.GetAudience()
	for _, a := range aud {
		if slices.Contains(ic.Audiences, a) {
			return nil
		}
	}
	for _, name := range []string{"azp", "client_id"} {
		if c := claimString(claims, name); c != "" && slices.Contains(ic.ClientIDs, c) {
			return nil
		}
	}
	return invalid("the token is not for this application (audience)", jwt.ErrTokenInvalidAudience)
}

// keys returns the issuer's key function, fetching its JWKS on first use.
// A failure is remembered for MinRefreshInterval so a down IdP is not
// hammered by every request.
func (is *issuer) keys(v *Verifier) (keyfunc.Keyfunc, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.kf != nil {
		return is.kf, nil
	}
	if !is.failedAt.IsZero() && v.now().Sub(is.failedAt) < v.cfg.MinRefreshInterval {
		return nil, is.failErr
	}
	kf, stop, err := is.build(v)
	if err != nil {
		is.failedAt, is.failErr = v.now(), err
		v.log.Warn("auth: cannot load the issuer's signing keys", "issuer", is.cfg.Issuer, "err", err)
		return nil, err
	}
	is.kf, is.stop = kf, stop
	return kf, nil
}

func (is *issuer) build(v *Verifier) (keyfunc.Keyfunc, context.CancelFunc, error) {
	// The discovery and first JWKS fetch run on the verifier's context,
	// not the request's: a cancelled request must not poison the cache.
	ctx, cancel := context.WithTimeout(v.ctx, v.cfg.HTTPTimeout)
	defer cancel()
	jwksURL := is.cfg.JWKSURL
	if jwksURL == "" {
		md, err := discover(ctx, v.hc, is.cfg.Issuer)
		if err != nil {
			return nil, nil, err
		}
		if md.JWKSURI == "" {
			return nil, nil, fmt.Errorf("discovery of %s names no jwks_uri", is.cfg.Issuer)
		}
		jwksURL = md.JWKSURI
	}
	// The storage's refresh goroutine lives until the verifier closes, or
	// right away when this attempt fails.
	life, stop := context.WithCancel(v.ctx)
	storage, err := jwkset.NewStorageFromHTTP(jwksURL, jwkset.HTTPClientStorageOptions{
		Client:          v.hc,
		Ctx:             life,
		HTTPTimeout:     v.cfg.HTTPTimeout,
		RefreshInterval: v.cfg.RefreshInterval,
		RefreshErrorHandler: func(ctx context.Context, err error) {
			v.log.Warn("auth: JWKS refresh failed", "issuer", is.cfg.Issuer, "url", jwksURL, "err", err)
		},
	})
	if err != nil {
		stop()
		return nil, nil, err
	}
	client, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{
		HTTPURLs: map[string]jwkset.Storage{jwksURL: storage},
		// An unknown kid refetches the JWKS (key rotation), rate-limited.
		// A request that would have to wait longer than an HTTP timeout
		// for its turn fails at once instead of queueing.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(v.cfg.MinRefreshInterval), 1),
		RateLimitWaitMax:  v.cfg.HTTPTimeout,
	})
	if err != nil {
		stop()
		return nil, nil, err
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: life, Storage: client, UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}})
	if err != nil {
		stop()
		return nil, nil, err
	}
	return kf, stop, nil
}
