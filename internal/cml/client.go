// Package cml is the fleet manager's client for the REST API of Cisco
// Modeling Labs (CML) 2.x controllers — one Client per worker.
//
// It covers the subset the fleet manager needs: authentication (token
// cached, one re-login on 401), system information/health/stats,
// licensing (status, registration with polling, deregistration),
// telemetry events with client-side activity filtering, labs (list, get,
// import, start, stop, wipe, delete, download, state) and node/image
// definitions. Workers use self-signed certificates, so TLS verification is
// off unless configured, with certificate pinning as the safer middle
// ground. Every call has a timeout; idempotent calls (GET, and the PUT
// state changes) are retried with exponential backoff and jitter on 5xx
// and connection errors. Failures are typed: callers branch with
// errors.Is on ErrUnauthorized, ErrNotFound, ErrConflict, ErrBadRequest and
// ErrUnavailable, and errors.As an *APIError for CML's description.
//
// docs/cml.md describes the client, the simulator it is tested against
// (internal/cmlsim) and how conformance with CML 2.9 is proven.
package cml

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Defaults, overridable with options.
const (
	DefaultTimeout     = 30 * time.Second // per HTTP attempt, as the old fleet manager used
	DefaultRetries     = 3                // extra attempts for idempotent calls
	DefaultBackoffBase = 250 * time.Millisecond
	DefaultBackoffMax  = 5 * time.Second
	DefaultUsername    = "admin"
	DefaultPassword    = "admin"
)

// Client talks to one CML controller. It is safe for concurrent use.
type Client struct {
	api         *url.URL // .../api/v0/
	hc          *http.Client
	username    string
	password    string
	timeout     time.Duration
	retries     int
	backoffBase time.Duration
	backoffMax  time.Duration
	log         *slog.Logger
	tokens      TokenStore
	tokenKey    string

	loginMu sync.Mutex // one login at a time; others wait and reuse it
}

// TokenStore keeps tokens between Client instances, keyed by controller
// URL and user, so short-lived callers (a Lambda invocation) can reuse a
// warm token. Implementations must be safe for concurrent use.
type TokenStore interface {
	Token(key string) (string, bool)
	SetToken(key, token string)
	// DeleteToken removes key only if it still holds token, so a client
	// dropping a stale token cannot discard a fresh one another client
	// just stored.
	DeleteToken(key, token string)
}

// MemoryTokenStore is an in-process TokenStore.
type MemoryTokenStore struct {
	mu sync.Mutex
	m  map[string]string
}

// NewMemoryTokenStore returns an empty in-process token store.
func NewMemoryTokenStore() *MemoryTokenStore { return &MemoryTokenStore{m: map[string]string{}} }

// Token implements TokenStore.
func (s *MemoryTokenStore) Token(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.m[key]
	return t, ok
}

// SetToken implements TokenStore.
func (s *MemoryTokenStore) SetToken(key, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = token
}

// DeleteToken implements TokenStore.
func (s *MemoryTokenStore) DeleteToken(key, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[key] == token {
		delete(s.m, key)
	}
}

type config struct {
	username, password string
	timeout            time.Duration
	retries            int
	backoffBase        time.Duration
	backoffMax         time.Duration
	verifyTLS          bool
	rootCAs            *x509.CertPool
	pin                []byte
	pinErr             error
	wrap               func(http.RoundTripper) http.RoundTripper
	httpClient         *http.Client
	logger             *slog.Logger
	tokens             TokenStore
}

// Option configures a Client.
type Option func(*config)

// WithCredentials sets the CML user (default admin/admin).
func WithCredentials(username, password string) Option {
	return func(c *config) { c.username, c.password = username, password }
}

// WithTimeout bounds every HTTP attempt (default 30 s).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithRetries sets how many times an idempotent call is retried after a
// 5xx or connection error (default 3; 0 disables retries).
func WithRetries(n int) Option { return func(c *config) { c.retries = max(n, 0) } }

// WithBackoff sets the exponential backoff between retries: attempt k
// waits a random time in [0, min(max, base·2^k)] ("full jitter").
func WithBackoff(base, max time.Duration) Option {
	return func(c *config) { c.backoffBase, c.backoffMax = base, max }
}

// WithTLSVerify turns certificate verification on (system roots, or the
// pool given with WithRootCAs). It is off by default because CML workers
// present self-signed certificates.
func WithTLSVerify(verify bool) Option { return func(c *config) { c.verifyTLS = verify } }

// WithRootCAs verifies the controller's certificate against pool (implies
// WithTLSVerify(true)).
func WithRootCAs(pool *x509.CertPool) Option {
	return func(c *config) { c.rootCAs, c.verifyTLS = pool, true }
}

// WithPinnedCertificate accepts only a controller whose leaf certificate
// has this SHA-256 fingerprint (hex, colons and case ignored), whatever
// signed it — the safe way to trust a self-signed worker.
func WithPinnedCertificate(sha256Hex string) Option {
	return func(c *config) {
		h := strings.ToLower(strings.NewReplacer(":", "", " ", "").Replace(sha256Hex))
		b, err := hex.DecodeString(h)
		if err == nil && len(b) != sha256.Size {
			err = fmt.Errorf("want %d bytes, got %d", sha256.Size, len(b))
		}
		if err != nil {
			c.pinErr = fmt.Errorf("cml: invalid pinned certificate fingerprint %q: %w", sha256Hex, err)
		}
		c.pin = b
	}
}

// WithTransportWrapper wraps the client's transport, e.g. for tracing or
// for the tests' OpenAPI response validation.
func WithTransportWrapper(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(c *config) { c.wrap = wrap }
}

// WithHTTPClient uses hc as is (its transport, TLS settings and timeout);
// the TLS options are then ignored.
func WithHTTPClient(hc *http.Client) Option { return func(c *config) { c.httpClient = hc } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithTokenStore shares tokens through s instead of keeping them in the
// Client only.
func WithTokenStore(s TokenStore) Option { return func(c *config) { c.tokens = s } }

// New returns a client for the controller at baseURL, e.g.
// "https://10.0.1.17" (".../api/v0" may be included or not). A bare host
// gets https://. Configuration errors (an invalid URL or pin) surface on
// the first call.
func New(baseURL string, opts ...Option) *Client {
	cfg := config{
		username: DefaultUsername, password: DefaultPassword,
		timeout: DefaultTimeout, retries: DefaultRetries,
		backoffBase: DefaultBackoffBase, backoffMax: DefaultBackoffMax,
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.logger == nil {
		cfg.logger = slog.New(slog.DiscardHandler)
	}
	if cfg.tokens == nil {
		cfg.tokens = NewMemoryTokenStore()
	}
	c := &Client{
		username: cfg.username, password: cfg.password,
		timeout: cfg.timeout, retries: cfg.retries,
		backoffBase: cfg.backoffBase, backoffMax: cfg.backoffMax,
		log: cfg.logger, tokens: cfg.tokens,
	}
	api, err := apiRoot(baseURL)
	if err == nil {
		err = cfg.pinErr
	}
	if err != nil {
		// Keep New infallible (it is called while wiring); every call
		// reports the problem instead.
		c.hc = &http.Client{Transport: errTransport{err}}
		c.api = &url.URL{Scheme: "https", Host: "invalid", Path: "/api/v0/"}
	} else {
		c.api = api
		c.hc = cfg.httpClient
		if c.hc == nil {
			c.hc = &http.Client{Transport: newTransport(cfg)}
		}
	}
	if cfg.wrap != nil {
		hc := *c.hc
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		hc.Transport = cfg.wrap(base)
		c.hc = &hc
	}
	c.tokenKey = c.api.String() + "\x00" + c.username
	return c
}

// BaseURL is the API root the client calls, ending in /api/v0/.
func (c *Client) BaseURL() string { return c.api.String() }

func apiRoot(raw string) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("cml: invalid base URL %q: %w", raw, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("cml: invalid base URL %q: scheme must be https or http", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("cml: invalid base URL %q: no host", raw)
	}
	p := strings.TrimSuffix(u.Path, "/")
	if !strings.HasSuffix(p, "/api/v0") {
		p += "/api/v0"
	}
	u.Path, u.RawQuery, u.Fragment = p+"/", "", ""
	return u, nil
}

func newTransport(cfg config) http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 4
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: cfg.rootCAs}
	if !cfg.verifyTLS {
		// Self-signed workers: skip chain verification (the pin below,
		// when set, still authenticates the peer).
		tc.InsecureSkipVerify = true
	}
	if len(cfg.pin) > 0 {
		pin := cfg.pin
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("cml: controller presented no certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !bytes.Equal(sum[:], pin) {
				return fmt.Errorf("cml: controller certificate fingerprint %x does not match the pinned %x", sum, pin)
			}
			return nil
		}
	}
	t.TLSClientConfig = tc
	return t
}

type errTransport struct{ err error }

func (e errTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, e.err }

// CertificateFingerprint is the SHA-256 fingerprint of a certificate in
// the form WithPinnedCertificate accepts.
func CertificateFingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// request describes one API call.
type request struct {
	method      string
	path        string // relative to /api/v0/, may hold a query
	body        []byte
	contentType string
	noAuth      bool
	idempotent  bool
	// okStatus lists accepted statuses; empty means any 2xx.
	okStatus []int
}

// response is a successful reply.
type response struct {
	status int
	body   []byte
}

// do runs a call with authentication, the 401 re-login and retries.
func (c *Client) do(ctx context.Context, r request) (response, error) {
	if r.noAuth {
		return c.doRetry(ctx, r, "")
	}
	tok, err := c.token(ctx)
	if err != nil {
		return response{}, err
	}
	resp, err := c.doRetry(ctx, r, tok)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		// The token expired or the controller restarted: log in again and
		// retry once, as virl2-client and gocmlclient do. A second 401
		// is final.
		c.log.DebugContext(ctx, "cml: 401, logging in again", "url", c.api.String(), "path", r.path)
		c.tokens.DeleteToken(c.tokenKey, tok)
		tok, err = c.login(ctx, tok)
		if err != nil {
			return response{}, err
		}
		return c.doRetry(ctx, r, tok)
	}
	return resp, err
}

// doRetry performs the attempts of one call.
func (c *Client) doRetry(ctx context.Context, r request, tok string) (response, error) {
	attempts := 1
	if r.idempotent {
		attempts += c.retries
	}
	var lastErr error
	for i := range attempts {
		if i > 0 {
			wait := c.backoff(i - 1)
			c.log.DebugContext(ctx, "cml: retrying", "method", r.method, "path", r.path, "attempt", i+1, "wait", wait, "err", lastErr)
			select {
			case <-ctx.Done():
				return response{}, c.transportErr(r, errors.Join(ctx.Err(), lastErr))
			case <-time.After(wait):
			}
		}
		resp, err := c.attempt(ctx, r, tok)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if !retryable(ctx, err) {
			return response{}, err
		}
	}
	return response{}, lastErr
}

func (c *Client) backoff(k int) time.Duration {
	d := c.backoffBase << min(k, 20)
	if d <= 0 || d > c.backoffMax {
		d = c.backoffMax
	}
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// retryable: 5xx and connection errors, unless the caller gave up.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Status >= 500
	}
	var te *TransportError
	return errors.As(err, &te)
}

func (c *Client) attempt(ctx context.Context, r request, tok string) (response, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	u, err := c.api.Parse(r.path)
	if err != nil {
		return response{}, fmt.Errorf("cml: bad path %q: %w", r.path, err)
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(actx, r.method, u.String(), body)
	if err != nil {
		return response{}, fmt.Errorf("cml: build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "cmlcm")
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return response{}, c.transportErr(r, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return response{}, c.transportErr(r, fmt.Errorf("read response: %w", err))
	}
	ok := res.StatusCode >= 200 && res.StatusCode < 300
	if len(r.okStatus) > 0 {
		ok = false
		for _, s := range r.okStatus {
			ok = ok || s == res.StatusCode
		}
	}
	if !ok {
		return response{}, newAPIError(r.method, r.path, res.StatusCode, b)
	}
	return response{status: res.StatusCode, body: b}, nil
}

func (c *Client) transportErr(r request, err error) error {
	return &TransportError{Method: r.method, URL: c.api.String() + r.path, Err: err}
}

// token returns the cached token or logs in.
func (c *Client) token(ctx context.Context) (string, error) {
	if t, ok := c.tokens.Token(c.tokenKey); ok {
		return t, nil
	}
	return c.login(ctx, "")
}

// login authenticates unless another goroutine already replaced stale
// (the token that failed) with a fresh one meanwhile.
func (c *Client) login(ctx context.Context, stale string) (string, error) {
	c.loginMu.Lock()
	defer c.loginMu.Unlock()
	if t, ok := c.tokens.Token(c.tokenKey); ok && t != stale {
		return t, nil
	}
	body, _ := json.Marshal(map[string]string{"username": c.username, "password": c.password})
	resp, err := c.doRetry(ctx, request{
		method: http.MethodPost, path: "authenticate", body: body, contentType: "application/json",
		noAuth: true, idempotent: true, // a repeated login is harmless
	}, "")
	if err != nil {
		return "", fmt.Errorf("cml: log in as %q: %w", c.username, err)
	}
	var tok string
	if err := json.Unmarshal(resp.body, &tok); err != nil || tok == "" {
		return "", fmt.Errorf("cml: log in as %q: unexpected reply %.100q", c.username, resp.body)
	}
	c.tokens.SetToken(c.tokenKey, tok)
	return tok, nil
}

// Logout revokes the cached token on the controller.
func (c *Client) Logout(ctx context.Context) error {
	tok, ok := c.tokens.Token(c.tokenKey)
	if !ok {
		return nil
	}
	c.tokens.DeleteToken(c.tokenKey, tok)
	_, err := c.doRetry(ctx, request{method: http.MethodDelete, path: "logout"}, tok)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusUnauthorized {
		return nil // already gone
	}
	return err
}

// getJSON GETs path and decodes the reply into v.
func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: path, idempotent: true})
	if err != nil {
		return err
	}
	return decode(http.MethodGet, path, resp.body, v)
}

func decode(method, path string, b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("cml: %s %s: decode reply: %w", method, path, err)
	}
	return nil
}
