package api

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
)

// Authorizer context keys: what lambdas/authorizer returns in its
// context, which API Gateway hands to the route Lambdas.
const (
	AuthorizerPrincipal = "principal" // the principal as JSON, or its subject
	AuthorizerRoles     = "roles"     // comma-joined roles
)

// AuthorizerAuthenticator reads the principal the API Gateway REQUEST
// authorizer put in the request context (the authorizer verified the
// credentials already; a route Lambda does not verify them again). A
// request without an authorizer context is unauthenticated: the API is
// only reachable through API Gateway, whose authorizer denies first.
func AuthorizerAuthenticator() Authenticator {
	return AuthenticatorFunc(func(r *http.Request) (Principal, error) {
		gw, ok := core.GetAPIGatewayContextFromContext(r.Context())
		if !ok || gw.Authorizer == nil {
			return Principal{}, ErrNoCredentials
		}
		raw, _ := gw.Authorizer[AuthorizerPrincipal].(string)
		if raw == "" {
			return Principal{}, ErrNoCredentials
		}
		var p Principal
		if strings.HasPrefix(strings.TrimSpace(raw), "{") {
			if err := json.Unmarshal([]byte(raw), &p); err != nil {
				return Principal{}, ErrNoCredentials
			}
		} else {
			p.Subject = raw
			p.Username, _ = gw.Authorizer["username"].(string)
			p.Email, _ = gw.Authorizer["email"].(string)
			p.Name, _ = gw.Authorizer["name"].(string)
			p.Issuer, _ = gw.Authorizer["issuer"].(string)
			if exp, ok := gw.Authorizer["expiresAt"].(string); ok {
				p.ExpiresAt, _ = time.Parse(time.RFC3339, exp)
			}
		}
		// The roles key is authoritative (the authorizer's decision input).
		p.Roles = nil
		if roles, _ := gw.Authorizer[AuthorizerRoles].(string); roles != "" {
			for _, role := range strings.Split(roles, ",") {
				if role = strings.TrimSpace(role); role != "" {
					p.Roles = append(p.Roles, role)
				}
			}
		}
		return p, nil
	})
}

// LambdaHandler adapts a router to API Gateway REST proxy events.
func LambdaHandler(router http.Handler) func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	adapter := httpadapter.New(router)
	return adapter.ProxyWithContext
}
