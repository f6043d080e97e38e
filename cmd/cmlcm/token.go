package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// token prints a bearer token from a running local server's development
// identity provider (OAuth 2.0 password grant), for scripts:
//
//	curl -H "Authorization: Bearer $(cmlcm token --user admin)" …
//
// It refuses any server that does not say it runs in local mode: real
// deployments sign people in through their identity provider, never with a
// password sent by a CLI.
func token(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stdout)
	server := fs.String("server", envOr("CMLCM_SERVER", "http://127.0.0.1:8080"), "local server URL (env CMLCM_SERVER)")
	user := fs.String("user", "admin", "demo user: admin, manager, user or guest")
	password := fs.String("password", "test", "the user's password")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tok, err := fetchToken(ctx, http.DefaultClient, *server, *user, *password)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 && resp.StatusCode != http.StatusServiceUnavailable {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v)
}

func fetchToken(ctx context.Context, hc *http.Client, server, user, password string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	server = strings.TrimRight(server, "/")
	var health struct {
		Mode string `json:"mode"`
		IdP  *struct {
			Issuer   string `json:"issuer"`
			ClientID string `json:"clientId"`
		} `json:"devIdentityProvider"`
	}
	if err := getJSON(ctx, hc, server+"/api/health", &health); err != nil {
		return "", fmt.Errorf("is the local server running at %s? %w", server, err)
	}
	if health.Mode != "local" {
		return "", errors.New("refused: the server is not a local server; sign in through its identity provider instead")
	}
	if health.IdP == nil || health.IdP.Issuer == "" {
		return "", errors.New("the local server has no development identity provider")
	}
	var disco struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := getJSON(ctx, hc, strings.TrimRight(health.IdP.Issuer, "/")+"/.well-known/openid-configuration", &disco); err != nil {
		return "", fmt.Errorf("discovery: %w", err)
	}
	if disco.TokenEndpoint == "" {
		return "", errors.New("discovery names no token endpoint")
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
		return "", fmt.Errorf("token refused: %s %s", out.Error, out.Description)
	}
	return out.AccessToken, nil
}
