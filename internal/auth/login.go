package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// LoginConfig configures the OIDC login against one provider.
type LoginConfig struct {
	// Issuer is the provider's issuer; its discovery document supplies
	// the endpoints. It must also be a trusted issuer of the Verifier.
	Issuer string
	// ClientID and ClientSecret of the (confidential) client; an empty
	// secret makes it a public client, which PKCE still protects.
	ClientID     string
	ClientSecret string
	// RedirectURL is this deployment's callback,
	// e.g. https://cmlcm.example.com/api/auth/callback.
	RedirectURL string
	// Scopes default to openid, profile and email.
	Scopes []string
	// PostLogoutRedirectURL is where the IdP sends the browser after
	// signing out (e.g. https://cmlcm.example.com/). Optional.
	PostLogoutRedirectURL string
	// EndSessionURL overrides the discovery document's
	// end_session_endpoint. Cognito publishes none: use
	// https://<domain>.auth.<region>.amazoncognito.com/logout.
	EndSessionURL string
	// LogoutRedirectParam names the end-session parameter carrying
	// PostLogoutRedirectURL: "post_logout_redirect_uri" (OIDC RP-Initiated
	// Logout, Keycloak; the default) or "logout_uri" (Cognito).
	LogoutRedirectParam string
	// HTTPClient calls the provider; nil builds one with HTTPTimeout.
	HTTPClient  *http.Client
	HTTPTimeout time.Duration
}

// Login runs the provider side of the OIDC authorization code flow:
// discovery (lazily, cached once it succeeds), the authorization URL with
// PKCE S256, the code exchange, refresh, revocation and the end-session
// URL.
type Login struct {
	cfg LoginConfig
	hc  *http.Client

	mu sync.Mutex
	md *providerMetadata
}

// NewLogin checks cfg; the provider is contacted on first use.
func NewLogin(cfg LoginConfig) (*Login, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, errors.New("auth: the login needs an issuer, a client id and a redirect URL")
	}
	if err := checkEndpointURL(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("auth: login issuer: %w", err)
	}
	if err := checkEndpointURL(cfg.RedirectURL); err != nil {
		return nil, fmt.Errorf("auth: redirect URL: %w", err)
	}
	if cfg.EndSessionURL != "" {
		if err := checkEndpointURL(cfg.EndSessionURL); err != nil {
			return nil, fmt.Errorf("auth: end-session URL: %w", err)
		}
	}
	if len(cfg.Scopes) == 0 {
		cfg.Scopes = []string{"openid", "profile", "email"}
	}
	if !slices.Contains(cfg.Scopes, "openid") {
		return nil, errors.New("auth: the login's scopes must include openid")
	}
	if cfg.LogoutRedirectParam == "" {
		cfg.LogoutRedirectParam = "post_logout_redirect_uri"
	}
	l := &Login{cfg: cfg, hc: cfg.HTTPClient}
	if l.hc == nil {
		l.hc = newHTTPClient(cfg.HTTPTimeout)
	}
	return l, nil
}

// ClientID is the login's client id.
func (l *Login) ClientID() string { return l.cfg.ClientID }

// Issuer is the login's issuer.
func (l *Login) Issuer() string { return l.cfg.Issuer }

// metadata returns the discovery document, fetching it the first time.
// A failure is not cached: the next login tries again.
func (l *Login) metadata(ctx context.Context) (providerMetadata, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.md != nil {
		return *l.md, nil
	}
	md, err := discover(ctx, l.hc, l.cfg.Issuer)
	if err != nil {
		return md, err
	}
	if md.AuthorizationEndpoint == "" || md.TokenEndpoint == "" {
		return md, fmt.Errorf("discovery of %s: no authorization or token endpoint", l.cfg.Issuer)
	}
	if len(md.CodeChallengeMethods) > 0 && !slices.Contains(md.CodeChallengeMethods, "S256") {
		return md, fmt.Errorf("discovery of %s: the provider does not support PKCE S256", l.cfg.Issuer)
	}
	l.md = &md
	return md, nil
}

func (l *Login) oauth(md providerMetadata) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     l.cfg.ClientID,
		ClientSecret: l.cfg.ClientSecret,
		RedirectURL:  l.cfg.RedirectURL,
		Scopes:       l.cfg.Scopes,
		Endpoint:     oauth2.Endpoint{AuthURL: md.AuthorizationEndpoint, TokenURL: md.TokenEndpoint},
	}
}

// clientCtx makes golang.org/x/oauth2 use our client (with its timeout).
func (l *Login) clientCtx(ctx context.Context) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, l.hc)
}

// AuthCodeURL is where the browser goes to sign in: the authorization
// endpoint with state, nonce and the PKCE S256 challenge of verifier.
func (l *Login) AuthCodeURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	md, err := l.metadata(ctx)
	if err != nil {
		return "", err
	}
	return l.oauth(md).AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("nonce", nonce)), nil
}

// Exchange redeems an authorization code with its PKCE verifier.
func (l *Login) Exchange(ctx context.Context, code, verifier string) (*Tokens, error) {
	md, err := l.metadata(ctx)
	if err != nil {
		return nil, err
	}
	t, err := l.oauth(md).Exchange(l.clientCtx(ctx), code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, err
	}
	return tokensOf(t, time.Now()), nil
}

// Refresh trades a refresh token for new tokens. A refused refresh token
// is an *oauth2.RetrieveError with ErrorCode "invalid_grant".
func (l *Login) Refresh(ctx context.Context, refreshToken string) (*Tokens, error) {
	md, err := l.metadata(ctx)
	if err != nil {
		return nil, err
	}
	// An expired token makes the token source refresh right away.
	src := l.oauth(md).TokenSource(l.clientCtx(ctx), &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)})
	t, err := src.Token()
	if err != nil {
		return nil, err
	}
	return tokensOf(t, time.Now()), nil
}

func tokensOf(t *oauth2.Token, now time.Time) *Tokens {
	out := &Tokens{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, Expiry: t.Expiry}
	if id, ok := t.Extra("id_token").(string); ok {
		out.IDToken = id
	}
	if out.Expiry.IsZero() {
		// No expires_in: the access token's own exp still bounds it (the
		// verifier checks); refresh at the next request.
		out.Expiry = now
	}
	switch v := t.Extra("refresh_expires_in").(type) {
	case float64:
		if v > 0 {
			out.RefreshExpiry = now.Add(time.Duration(v) * time.Second)
		}
	case string:
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			out.RefreshExpiry = now.Add(time.Duration(n) * time.Second)
		}
	}
	return out
}

// Revoke revokes a refresh token at the provider's revocation endpoint
// (RFC 7009), when it has one. Keycloak ends the IdP session of the
// client with it; Cognito invalidates the tokens issued from it.
func (l *Login) Revoke(ctx context.Context, refreshToken string) error {
	md, err := l.metadata(ctx)
	if err != nil {
		return err
	}
	if md.RevocationEndpoint == "" || refreshToken == "" {
		return nil
	}
	form := url.Values{"token": {refreshToken}, "token_type_hint": {"refresh_token"}}
	if l.cfg.ClientSecret == "" {
		form.Set("client_id", l.cfg.ClientID)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, md.RevocationEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if l.cfg.ClientSecret != "" {
		// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(l.cfg.ClientID), url.QueryEscape(l.cfg.ClientSecret))
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revocation endpoint: %s", resp.Status)
	}
	return nil
}

// EndSessionURL is where the browser goes to end its IdP session (OIDC
// RP-Initiated Logout), or "" when the provider has no such endpoint. It
// carries client_id but no id_token_hint: the ID token stays on the
// server. Keycloak then asks the person to confirm.
func (l *Login) EndSessionURL(ctx context.Context) (string, error) {
	endpoint := l.cfg.EndSessionURL
	if endpoint == "" {
		md, err := l.metadata(ctx)
		if err != nil {
			return "", err
		}
		endpoint = md.EndSessionEndpoint
	}
	if endpoint == "" {
		return "", nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("client_id", l.cfg.ClientID)
	if l.cfg.PostLogoutRedirectURL != "" {
		q.Set(l.cfg.LogoutRedirectParam, l.cfg.PostLogoutRedirectURL)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}
