package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cmlcm/cmlcm/internal/routes"
)

// ErrUnauthorized is the error an API Gateway Lambda authorizer returns
// to make API Gateway answer 401: API Gateway matches this exact text.
var ErrUnauthorized = errors.New("Unauthorized")

// Keys of the authorizer context API Gateway hands to the route Lambdas
// (requestContext.authorizer). Values are strings: API Gateway accepts
// only strings, numbers and booleans there.
const (
	CtxPrincipal  = "principal"  // the Principal as JSON
	CtxRoles      = "roles"      // comma-joined roles ("" for none)
	CtxSubject    = "subject"    //
	CtxUsername   = "username"   //
	CtxEmail      = "email"      //
	CtxName       = "name"       //
	CtxIssuer     = "issuer"     //
	CtxExpiresAt  = "expiresAt"  // RFC 3339
	CtxAuthMethod = "authMethod" // MethodSession or MethodBearer
	// CtxCSRFHash is the SHA-256 (base64url) of the session's anti-CSRF
	// token: the route Lambda checks the X-CSRF-Token header against it
	// (AuthorizerCSRF), because the authorizer's cached decision cannot.
	CtxCSRFHash = "csrfHash"
)

// Authorizer is the API Gateway REQUEST authorizer: it resolves the
// request's session cookie or bearer token with the same Authenticator as
// the local server and answers
//
//   - no or invalid credentials: the error "Unauthorized" (401);
//   - a principal with at least one role: Allow on the whole stage;
//   - a principal without a role: Allow on the signed-in routes only
//     (/api/auth/me, /api/auth/logout); anything else is implicitly denied
//     (403) before a route Lambda runs;
//   - the session store failing: another error (API Gateway answers 500).
//
// The policy covers more than the method being authorized because API
// Gateway caches the decision per identity (Cookie, Authorization) and
// applies it to every route; the route Lambdas check each route's roles.
type Authorizer struct {
	authn *Authenticator
	log   *slog.Logger
}

// NewAuthorizer returns the authorizer.
func NewAuthorizer(authn *Authenticator, log *slog.Logger) *Authorizer {
	if log == nil {
		log = slog.Default()
	}
	return &Authorizer{authn: authn, log: log}
}

// Handle is the Lambda handler.
func (a *Authorizer) Handle(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	start := time.Now()
	base, ok := stageARN(ev.MethodArn)
	if !ok {
		a.log.Error("authorizer: unexpected method ARN", "methodArn", ev.MethodArn)
		return events.APIGatewayCustomAuthorizerResponse{}, fmt.Errorf("authorizer: unexpected method ARN %q", ev.MethodArn)
	}
	id, err := a.authn.Resolve(ctx, requestOf(ctx, ev))
	switch {
	case errors.Is(err, ErrNoCredentials):
		a.log.Info("authorizer: no credentials", "method", ev.HTTPMethod, "path", ev.Path)
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	case IsInvalid(err):
		a.log.Info("authorizer: credentials refused", "method", ev.HTTPMethod, "path", ev.Path, "reason", err.Error())
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	case err != nil:
		a.log.Error("authorizer: failure", "err", logDetail(err))
		return events.APIGatewayCustomAuthorizerResponse{}, errors.New("authorizer failure")
	}
	p := id.Principal
	resources := []string{base + "/*"}
	if !p.HasAccess() {
		resources = signedInResources(base)
	}
	a.log.Info("authorizer: allow", "subject", p.Subject, "username", p.Username, "roles", p.Roles,
		"via", id.Method, "ms", time.Since(start).Milliseconds())
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: p.Subject,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{
			Version: "2012-10-17",
			Statement: []events.IAMPolicyStatement{{
				Action: []string{"execute-api:Invoke"}, Effect: "Allow", Resource: resources,
			}},
		},
		Context: authorizerContext(id),
	}, nil
}

// stageARN cuts a method ARN
// (arn:aws:execute-api:region:account:api/stage/METHOD/path…) to its
// stage (arn:…:api/stage).
func stageARN(methodARN string) (string, bool) {
	if !strings.HasPrefix(methodARN, "arn:") {
		return "", false
	}
	parts := strings.SplitN(methodARN, "/", 3)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" || strings.Count(parts[0], ":") != 5 {
		return "", false
	}
	return parts[0] + "/" + parts[1], true
}

var pathParam = regexp.MustCompile(`\{[^}]*\}`)

// signedInResources are the routes anyone signed in may call.
func signedInResources(base string) []string {
	var out []string
	for _, r := range routes.All {
		if r.Access == routes.SignedIn {
			out = append(out, base+"/"+r.Method+pathParam.ReplaceAllString(r.Path, "*"))
		}
	}
	return out
}

// requestOf makes the event an *http.Request for the Authenticator.
func requestOf(ctx context.Context, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) *http.Request {
	h := http.Header{}
	if len(ev.MultiValueHeaders) > 0 {
		for k, vs := range ev.MultiValueHeaders {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
	} else {
		for k, v := range ev.Headers {
			h.Add(k, v)
		}
	}
	r := &http.Request{Method: ev.HTTPMethod, Header: h, URL: &url.URL{Path: ev.Path}}
	return r.WithContext(ctx)
}

func authorizerContext(id Identity) map[string]any {
	p := id.Principal
	raw, _ := json.Marshal(p)
	c := map[string]any{
		CtxPrincipal:  string(raw),
		CtxRoles:      strings.Join(p.Roles, ","),
		CtxSubject:    p.Subject,
		CtxUsername:   p.Username,
		CtxEmail:      p.Email,
		CtxName:       p.Name,
		CtxIssuer:     p.Issuer,
		CtxExpiresAt:  p.ExpiresAt.UTC().Format(time.RFC3339),
		CtxAuthMethod: id.Method,
	}
	if id.Session != nil {
		c[CtxCSRFHash] = hashToken(id.Session.CSRFToken)
	}
	return c
}

// AuthorizerCSRF is the route Lambda's half of the CSRF check: for a
// request the authorizer admitted through a session cookie, an unsafe
// method must carry the X-CSRF-Token whose hash the authorizer put in
// its context. authorizer is requestContext.authorizer.
func AuthorizerCSRF(r *http.Request, authorizer map[string]any) error {
	if m, _ := authorizer[CtxAuthMethod].(string); m != MethodSession || safeMethod(r.Method) {
		return nil
	}
	want, _ := authorizer[CtxCSRFHash].(string)
	tok := r.Header.Get(CSRFHeader)
	if want == "" || tok == "" || subtle.ConstantTimeCompare([]byte(hashToken(tok)), []byte(want)) != 1 {
		return ErrCSRF
	}
	return nil
}

// PrincipalFromAuthorizer reads the principal the authorizer put in the
// context; false when there is none.
func PrincipalFromAuthorizer(authorizer map[string]any) (Principal, bool) {
	raw, _ := authorizer[CtxPrincipal].(string)
	var p Principal
	if raw == "" || json.Unmarshal([]byte(raw), &p) != nil || p.Subject == "" {
		return Principal{}, false
	}
	// The roles key is the authorizer's decision input: authoritative.
	p.Roles = []string{}
	if roles, _ := authorizer[CtxRoles].(string); roles != "" {
		p.Roles = normalizeRoles(strings.Split(roles, ","))
	}
	return p, true
}
