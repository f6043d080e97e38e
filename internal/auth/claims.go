package auth

import (
	"crypto/subtle"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// principalFrom builds the principal of verified claims.
func principalFrom(c jwt.MapClaims, ic IssuerConfig) Principal {
	p := Principal{
		Subject: claimString(c, "sub"),
		Email:   claimString(c, "email"),
		Name:    claimString(c, "name"),
		Issuer:  claimString(c, "iss"),
	}
	if p.Name == "" {
		p.Name = strings.TrimSpace(claimString(c, "given_name") + " " + claimString(c, "family_name"))
	}
	// Keycloak: preferred_username; Cognito: cognito:username (ID token) or
	// username (access token).
	for _, name := range []string{"preferred_username", "cognito:username", "username", "email", "sub"} {
		if v := claimString(c, name); v != "" {
			p.Username = v
			break
		}
	}
	var roles []string
	for _, path := range ic.RoleClaims {
		roles = append(roles, claimStrings(c, path)...)
	}
	p.Roles = normalizeRoles(roles)
	if exp, err := c.GetExpirationTime(); err == nil && exp != nil {
		p.ExpiresAt = exp.Time.UTC()
	}
	return p
}

// mergeProfile fills what an access token lacks (Cognito access tokens
// carry no email or name) from the ID token of the same login. Roles and
// the subject stay the access token's: authorization follows the token a
// bearer client would present too.
func mergeProfile(p, id Principal) Principal {
	if id.Subject != p.Subject {
		return p
	}
	if p.Email == "" {
		p.Email = id.Email
	}
	if p.Name == "" {
		p.Name = id.Name
	}
	// The ID token is the login's statement of identity: its
	// preferred_username beats a Cognito access token's opaque username
	// ("Keycloak_1234…").
	if id.Username != "" {
		p.Username = id.Username
	}
	return p
}

func claimString(c jwt.MapClaims, name string) string {
	s, _ := c[name].(string)
	return s
}

// claimStrings reads a claim by name or dotted path ("realm_access.roles"):
// an array of strings, or one string listing values separated by commas or
// spaces (Cognito custom attributes are strings; a federated array claim
// arrives there as "[admin, manager]").
func claimStrings(c jwt.MapClaims, path string) []string {
	v, ok := c[path]
	if !ok {
		var cur any = map[string]any(c)
		for _, part := range strings.Split(path, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				return nil
			}
			if cur, ok = m[part]; !ok {
				return nil
			}
		}
		v = cur
	}
	switch t := v.(type) {
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return t
	case string:
		return strings.FieldsFunc(t, func(r rune) bool {
			return r == ',' || r == ' ' || r == '[' || r == ']' || r == '"' || r == '\t' || r == '\n'
		})
	}
	return nil
}

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
