// Package auth authenticates the people and scripts that call the API.
//
// Two kinds of credentials resolve to the same Principal:
//
//   - a server-side session behind an httpOnly cookie, created by the OIDC
//     login (authorization code + PKCE, state and nonce checked); the
//     tokens stay in the session store and never reach the browser;
//   - an "Authorization: Bearer <JWT>" access token for scripts, verified
//     against the trusted issuers' JWKS (RS256/ES256 only).
//
// The same Verifier and session store serve the local server
// (Authenticator, the /api/auth/* handlers) and production (the API
// Gateway REQUEST authorizer of lambdas/authorizer). Role checks per
// route belong to the caller: this package says who the caller is and
// which of the application's roles they hold.
package auth

import (
	"slices"
	"strings"
	"time"
)

// The application's roles. A signed-in person holding none of them may
// only see who they are (/api/auth/me).
const (
	RoleAdmin   = "admin"
	RoleManager = "manager"
	RoleUser    = "user"
)

// KnownRoles lists the application's roles, most powerful first. Roles an
// identity provider asserts beyond these (Keycloak's default-roles-*,
// offline_access, Cognito groups of other applications) are dropped: they
// mean nothing here and would only bloat the authorizer context.
var KnownRoles = []string{RoleAdmin, RoleManager, RoleUser}

// Principal is a verified identity. Its JSON shape is the one the
// dashboard and internal/api use.
type Principal struct {
	Subject  string `json:"subject"`
	Username string `json:"username"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	// Roles holds only KnownRoles, in KnownRoles order; never nil once
	// built by this package.
	Roles  []string `json:"roles"`
	Issuer string   `json:"issuer"`
	// ExpiresAt is when these credentials stop being valid: the access
	// token's expiry for a bearer token, the session's for a cookie.
	ExpiresAt time.Time `json:"expiresAt"`
}

// HasRole reports whether p holds role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// HasAnyRole reports whether p holds at least one of roles.
func (p Principal) HasAnyRole(roles ...string) bool {
	for _, r := range roles {
		if p.HasRole(r) {
			return true
		}
	}
	return false
}

// HasAccess reports whether p holds any application role at all.
func (p Principal) HasAccess() bool { return p.HasAnyRole(KnownRoles...) }

// Actor is the name events record for p.
func (p Principal) Actor() string {
	if p.Username != "" {
		return p.Username
	}
	return p.Subject
}

// normalizeRoles keeps the known roles among raw (case-insensitively,
// trimmed), without duplicates, in KnownRoles order. Never nil.
func normalizeRoles(raw []string) []string {
	out := []string{}
	for _, known := range KnownRoles {
		for _, r := range raw {
			if strings.EqualFold(strings.TrimSpace(r), known) {
				out = append(out, known)
				break
			}
		}
	}
	return out
}
