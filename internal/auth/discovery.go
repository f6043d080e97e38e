package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultHTTPTimeout bounds every request to an identity provider.
const DefaultHTTPTimeout = 10 * time.Second

// maxDocumentBytes bounds what we read from an identity provider.
const maxDocumentBytes = 1 << 20

// providerMetadata is the part of an OpenID Provider's discovery document
// (OpenID Connect Discovery 1.0 §3) we use.
type providerMetadata struct {
	Issuer                string   `json:"issuer"`
	AuthorizationEndpoint string   `json:"authorization_endpoint"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	EndSessionEndpoint    string   `json:"end_session_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	CodeChallengeMethods  []string `json:"code_challenge_methods_supported"`
}

// discover fetches issuer's discovery document. Its "issuer" must be
// exactly issuer (Discovery §4.3): otherwise a document served at one
// address could vouch for another issuer's tokens.
func discover(ctx context.Context, hc *http.Client, issuer string) (providerMetadata, error) {
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	var md providerMetadata
	if err := getJSON(ctx, hc, u, &md); err != nil {
		return md, fmt.Errorf("discovery of %s: %w", issuer, err)
	}
	if md.Issuer != issuer {
		return md, fmt.Errorf("discovery of %s: the document names issuer %q", issuer, md.Issuer)
	}
	for name, v := range map[string]string{"jwks_uri": md.JWKSURI, "authorization_endpoint": md.AuthorizationEndpoint,
		"token_endpoint": md.TokenEndpoint, "end_session_endpoint": md.EndSessionEndpoint, "revocation_endpoint": md.RevocationEndpoint} {
		if v == "" {
			continue
		}
		if err := checkEndpointURL(v); err != nil {
			return md, fmt.Errorf("discovery of %s: %s: %w", issuer, name, err)
		}
	}
	return md, nil
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxDocumentBytes)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}

// checkEndpointURL accepts https URLs, and plain http only on loopback
// hosts (the development provider, a test Keycloak): tokens and keys must
// never travel in clear text across a network.
func checkEndpointURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("%q is not an absolute URL", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && isLoopback(u.Hostname()):
		return nil
	default:
		return fmt.Errorf("%q: want https (plain http only on a loopback address)", raw)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// newHTTPClient is the client for identity-provider calls: a timeout on
// every request, and no redirects followed (a JWKS or token endpoint that
// redirects elsewhere is misconfigured, and following it could leak the
// client secret to another host).
func newHTTPClient(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultHTTPTimeout
	}
	return &http.Client{
		Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("identity provider endpoints must not redirect")
		},
	}
}
