package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
)

// Environment variables of the Lambdas that authenticate (infra/ sets
// them; the names match infra/functions.go).
const (
	EnvIssuers     = "OIDC_ISSUERS"               // comma-separated trusted issuers (Cognito pool, Keycloak realm)
	EnvAudiences   = "OIDC_AUDIENCES"             // comma-separated client ids accepted as aud, azp or client_id
	EnvLoginIssuer = "OIDC_LOGIN_ISSUER"          // issuer of the login flow (default: the secret's issuer)
	EnvSecretARN   = "OIDC_SECRET_ARN"            // Secrets Manager: {"clientId","clientSecret","issuer"}
	EnvRoleClaims  = "OIDC_ROLE_CLAIMS"           // optional: comma-separated role claims (default DefaultRoleClaims)
	EnvEndSession  = "OIDC_END_SESSION_URL"       // optional: end-session URL when discovery has none (Cognito: https://<domain>/logout)
	EnvLogoutParam = "OIDC_LOGOUT_REDIRECT_PARAM" // optional: "logout_uri" for Cognito
	EnvPublicURL   = "PUBLIC_URL"                 // https://host the dashboard and API are served at
)

// ClientCredentials are the login client's id and secret, as kept in
// Secrets Manager (OIDC_SECRET_ARN) or a local secrets file.
type ClientCredentials struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	Issuer       string `json:"issuer,omitempty"`
}

// String hides the secret.
func (c ClientCredentials) String() string { return "{" + c.ClientID + " ********}" }

// LogValue hides the secret from log/slog.
func (c ClientCredentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// ParseClientCredentials reads {"clientId","clientSecret","issuer"}.
func ParseClientCredentials(raw string) (ClientCredentials, error) {
	var c ClientCredentials
	if err := json.Unmarshal([]byte(raw), &c); err != nil || c.ClientID == "" {
		// Never echo raw: it is the secret.
		return ClientCredentials{}, errors.New(`auth: the OIDC client secret is not {"clientId","clientSecret","issuer"}`)
	}
	return c, nil
}

// ConfigFromEnv builds the Config of a Lambda from its environment
// (lookup nil: os.LookupEnv). client is the login client (nil: no login,
// bearer tokens and existing sessions only). The caller adds Store,
// Refresh and Logger.
func ConfigFromEnv(lookup func(string) (string, bool), client *ClientCredentials) (Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	get := func(k string) string { v, _ := lookup(k); return strings.TrimSpace(v) }
	issuers, audiences := splitList(get(EnvIssuers)), splitList(get(EnvAudiences))
	if len(issuers) == 0 || len(audiences) == 0 {
		return Config{}, fmt.Errorf("auth: set %s and %s", EnvIssuers, EnvAudiences)
	}
	var roleClaims []string
	if rc := get(EnvRoleClaims); rc != "" {
		roleClaims = splitList(rc)
	}
	var cfg Config
	for _, iss := range issuers {
		// Every accepted client id counts as audience (Keycloak with an
		// audience mapper) and as azp / client_id (Keycloak without one;
		// Cognito access tokens, which have no aud).
		cfg.Issuers = append(cfg.Issuers, IssuerConfig{Issuer: iss, Audiences: audiences, ClientIDs: audiences, RoleClaims: roleClaims})
	}
	if client != nil {
		public := strings.TrimSuffix(get(EnvPublicURL), "/")
		if public == "" {
			return Config{}, fmt.Errorf("auth: set %s for the login", EnvPublicURL)
		}
		iss := get(EnvLoginIssuer)
		if iss == "" {
			iss = client.Issuer
		}
		if iss == "" {
			return Config{}, fmt.Errorf("auth: set %s for the login", EnvLoginIssuer)
		}
		cfg.Login = &LoginConfig{
			Issuer: iss, ClientID: client.ClientID, ClientSecret: client.ClientSecret,
			RedirectURL:           public + "/api/auth/callback",
			PostLogoutRedirectURL: public + "/",
			EndSessionURL:         get(EnvEndSession),
			LogoutRedirectParam:   get(EnvLogoutParam),
		}
	}
	return cfg, nil
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}
