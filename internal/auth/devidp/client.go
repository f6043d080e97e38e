package devidp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Token returns an access token for user from the development identity
// provider of the local server at serverURL (OAuth 2.0 password grant):
// the client side of `cmlcm token --server URL --user admin`.
//
// It asks the server's /api/health where its provider is, and refuses a
// server that does not say it runs in local mode: a real deployment signs
// people in at its identity provider, never with a password a CLI sends.
func Token(ctx context.Context, serverURL, user, password string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: 10 * time.Second}
	serverURL = strings.TrimSuffix(serverURL, "/")
	var health struct {
		Mode string `json:"mode"`
		IdP  *struct {
			Issuer   string `json:"issuer"`
			ClientID string `json:"clientId"`
		} `json:"devIdentityProvider"`
	}
	// /api/health answers 503 with the same body when a check fails; the
	// provider may still be up.
	if err := getJSON(ctx, hc, serverURL+"/api/health", &health, http.StatusServiceUnavailable); err != nil {
		return "", fmt.Errorf("is the local server running at %s? %w", serverURL, err)
	}
	if health.Mode != "local" {
		return "", errors.New("refused: the server is not a local server; sign in through its identity provider instead")
	}
	if health.IdP == nil || health.IdP.Issuer == "" {
		return "", errors.New("the local server has no development identity provider")
	}
	var disco struct {
		Issuer        string `json:"issuer"`
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := getJSON(ctx, hc, strings.TrimSuffix(health.IdP.Issuer, "/")+"/.well-known/openid-configuration", &disco); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	if disco.TokenEndpoint == "" || disco.Issuer != health.IdP.Issuer {
		return "", errors.New("the development identity provider's discovery document is not usable")
	}
	form := url.Values{"grant_type": {"password"}, "username": {user}, "password": {password},
		"client_id": {health.IdP.ClientID}, "scope": {"openid profile email"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, disco.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return "", fmt.Errorf("token endpoint: %s", resp.Status)
	}
	if resp.StatusCode != http.StatusOK || out.AccessToken == "" {
		return "", fmt.Errorf("token refused: %s: %s", out.Error, out.Description)
	}
	return out.AccessToken, nil
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any, alsoOK ...int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	ok := resp.StatusCode == http.StatusOK
	for _, s := range alsoOK {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}
