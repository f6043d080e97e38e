package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"
)

const testMethodARN = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/GET/api/workers/w-1"

func TestAuthorizer(t *testing.T) {
	key := newRSAKey(t, "k1")
	iss := newFakeIssuer(t, key)
	v := newTestVerifier(t, IssuerConfig{Issuer: iss.URL(), ClientIDs: []string{"cmlcm"}})
	store := newMemStore()
	sessions, err := NewSessions(store, SessionOptions{Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	authn, err := NewAuthenticator(v, sessions)
	if err != nil {
		t.Fatal(err)
	}
	a := NewAuthorizer(authn, nil)
	ctx, now := context.Background(), time.Now()

	bearer := func(roles ...any) string {
		return "Bearer " + key.sign(t, claims(iss.URL(), now, jwt.MapClaims{"realm_access": map[string]any{"roles": roles}}))
	}
	mgrSession, err := sessions.Create(ctx, Principal{Subject: "s-mgr", Username: "max", Roles: []string{RoleManager}, Issuer: iss.URL()},
		&Tokens{AccessToken: "at", RefreshToken: "rt", Expiry: now.Add(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	guestSession, err := sessions.Create(ctx, Principal{Subject: "s-guest", Username: "gus", Roles: []string{}, Issuer: iss.URL()},
		&Tokens{AccessToken: "at", RefreshToken: "rt", Expiry: now.Add(5 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	cookie := func(id string) string { return "cmlcm-anonymous=1; " + SessionCookie + "=" + id }
	stage := "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod"

	cases := []struct {
		name      string
		headers   map[string]string
		multi     map[string][]string
		methodARN string
		failStore bool
		wantErr   error // ErrUnauthorized, or nil for Allow; other errors: any non-Unauthorized error
		wantOther bool
		principal string
		roles     string
		method    string
		resources []string
		csrf      bool
	}{
		{name: "no credentials", headers: nil, wantErr: ErrUnauthorized},
		{name: "edge's inert values only", headers: map[string]string{"Authorization": "None", "Cookie": "cmlcm-anonymous=1"}, wantErr: ErrUnauthorized},
		{name: "admin bearer", headers: map[string]string{"Authorization": bearer("admin"), "Cookie": "cmlcm-anonymous=1"},
			principal: "f3a1c2d4-0000-4000-8000-000000000001", roles: "admin", method: MethodBearer, resources: []string{stage + "/*"}},
		{name: "lower-case header names (HTTP/2 clients)", headers: map[string]string{"authorization": bearer("user", "manager")},
			principal: "f3a1c2d4-0000-4000-8000-000000000001", roles: "manager,user", method: MethodBearer, resources: []string{stage + "/*"}},
		{name: "bearer without a role: signed-in routes only", headers: map[string]string{"Authorization": bearer("offline_access")},
			principal: "f3a1c2d4-0000-4000-8000-000000000001", roles: "", method: MethodBearer,
			resources: []string{stage + "/POST/api/auth/logout", stage + "/GET/api/auth/me"}},
		{name: "expired bearer", headers: map[string]string{"Authorization": "Bearer " + key.sign(t, claims(iss.URL(), now, jwt.MapClaims{"exp": now.Add(-time.Hour).Unix(), "iat": now.Add(-2 * time.Hour).Unix()}))}, wantErr: ErrUnauthorized},
		{name: "forged bearer", headers: map[string]string{"Authorization": "Bearer " + newECKey(t, "k1").sign(t, claims(iss.URL(), now, nil))}, wantErr: ErrUnauthorized},
		{name: "manager session", headers: map[string]string{"Authorization": "None", "Cookie": cookie(mgrSession.ID)},
			principal: "s-mgr", roles: "manager", method: MethodSession, resources: []string{stage + "/*"}, csrf: true},
		{name: "session cookie among several Cookie headers", multi: map[string][]string{"cookie": {"a=b", SessionCookie + "=" + mgrSession.ID}},
			principal: "s-mgr", roles: "manager", method: MethodSession, resources: []string{stage + "/*"}, csrf: true},
		{name: "guest session", headers: map[string]string{"Cookie": cookie(guestSession.ID)},
			principal: "s-guest", roles: "", method: MethodSession, resources: []string{stage + "/POST/api/auth/logout", stage + "/GET/api/auth/me"}, csrf: true},
		{name: "unknown session", headers: map[string]string{"Cookie": cookie("forged-session-id")}, wantErr: ErrUnauthorized},
		{name: "invalid bearer beats a valid cookie", headers: map[string]string{"Authorization": "Bearer x.y.z", "Cookie": cookie(mgrSession.ID)}, wantErr: ErrUnauthorized},
		{name: "session store down", headers: map[string]string{"Cookie": cookie(mgrSession.ID)}, failStore: true, wantOther: true},
		{name: "malformed method ARN", headers: map[string]string{"Authorization": bearer("admin")}, methodARN: "not-an-arn", wantOther: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store.fail = nil
			if tc.failStore {
				store.fail = errors.New("ProvisionedThroughputExceededException")
			}
			arn := testMethodARN
			if tc.methodARN != "" {
				arn = tc.methodARN
			}
			resp, err := a.Handle(ctx, events.APIGatewayCustomAuthorizerRequestTypeRequest{
				Type: "REQUEST", MethodArn: arn, HTTPMethod: "GET", Path: "/api/workers/w-1", Headers: tc.headers, MultiValueHeaders: tc.multi,
			})
			switch {
			case tc.wantOther:
				if err == nil || errors.Is(err, ErrUnauthorized) || err.Error() == "Unauthorized" {
					t.Fatalf("err = %v, want a failure other than Unauthorized (500)", err)
				}
				return
			case tc.wantErr != nil:
				if err == nil || err.Error() != "Unauthorized" {
					t.Fatalf("err = %v, want exactly \"Unauthorized\" (401)", err)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if resp.PrincipalID != tc.principal {
				t.Errorf("principalId %q, want %q", resp.PrincipalID, tc.principal)
			}
			st := resp.PolicyDocument.Statement
			if resp.PolicyDocument.Version != "2012-10-17" || len(st) != 1 || st[0].Effect != "Allow" || !slices.Equal(st[0].Action, []string{"execute-api:Invoke"}) {
				t.Fatalf("policy %+v", resp.PolicyDocument)
			}
			got := slices.Sorted(slices.Values(st[0].Resource))
			if want := slices.Sorted(slices.Values(tc.resources)); !slices.Equal(got, want) {
				t.Errorf("resources %v, want %v", got, want)
			}
			for k, val := range resp.Context {
				switch val.(type) {
				case string, bool, float64, int, int64:
				default:
					t.Errorf("context[%s] is a %T: API Gateway takes only strings, numbers and booleans", k, val)
				}
			}
			if resp.Context[CtxRoles] != tc.roles || resp.Context[CtxAuthMethod] != tc.method {
				t.Errorf("context %v", resp.Context)
			}
			if _, has := resp.Context[CtxCSRFHash]; has != tc.csrf {
				t.Errorf("csrf hash present = %v", has)
			}
			p, ok := PrincipalFromAuthorizer(resp.Context)
			if !ok || p.Subject != tc.principal || strings.Join(p.Roles, ",") != tc.roles {
				t.Errorf("principal from the context: %+v %v", p, ok)
			}
			raw, _ := json.Marshal(resp)
			if strings.Contains(string(raw), mgrSession.ID) || strings.Contains(string(raw), mgrSession.CSRFToken) || strings.Contains(string(raw), "eyJ") {
				t.Errorf("the response leaks a credential: %s", raw)
			}
		})
	}

	// The route Lambda's half of CSRF, with the context of a session.
	resp, err := a.Handle(ctx, events.APIGatewayCustomAuthorizerRequestTypeRequest{MethodArn: testMethodARN,
		Headers: map[string]string{"Cookie": cookie(mgrSession.ID)}})
	if err != nil {
		t.Fatal(err)
	}
	csrf := []struct {
		method, header string
		ok             bool
	}{
		{"GET", "", true},
		{"POST", "", false},
		{"POST", "wrong", false},
		{"DELETE", mgrSession.CSRFToken, true},
	}
	for _, tc := range csrf {
		r := httptest.NewRequest(tc.method, "/api/workers/w-1/stop", nil)
		if tc.header != "" {
			r.Header.Set(CSRFHeader, tc.header)
		}
		if err := AuthorizerCSRF(r, resp.Context); (err == nil) != tc.ok {
			t.Errorf("%s with %q: %v", tc.method, tc.header, err)
		}
	}
	// A bearer-admitted write needs no CSRF header.
	resp, err = a.Handle(ctx, events.APIGatewayCustomAuthorizerRequestTypeRequest{MethodArn: testMethodARN,
		Headers: map[string]string{"Authorization": bearer("admin")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := AuthorizerCSRF(httptest.NewRequest(http.MethodPost, "/api/workers", nil), resp.Context); err != nil {
		t.Errorf("bearer write: %v", err)
	}
}

func TestStageARN(t *testing.T) {
	cases := []struct{ in, want string }{
		{testMethodARN, "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod"},
		{"arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod/POST/", "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod"},
		{"arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/prod", ""},
		{"nope", ""},
	}
	for _, tc := range cases {
		got, ok := stageARN(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("stageARN(%q) = %q, %v", tc.in, got, ok)
		}
	}
}

func TestConfigFromEnv(t *testing.T) {
	env := map[string]string{
		EnvIssuers:    "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab, https://kc.example.com/realms/cmlcm",
		EnvAudiences:  "5r0f0cognitoclient,cmlcm",
		EnvPublicURL:  "https://cmlcm.example.com/",
		EnvEndSession: "https://cmlcm.auth.eu-west-1.amazoncognito.com/logout", EnvLogoutParam: "logout_uri",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	cfg, err := ConfigFromEnv(lookup, &ClientCredentials{ClientID: "5r0f0cognitoclient", ClientSecret: "s3cret", Issuer: "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Issuers) != 2 || cfg.Issuers[1].Issuer != "https://kc.example.com/realms/cmlcm" || !slices.Equal(cfg.Issuers[0].ClientIDs, []string{"5r0f0cognitoclient", "cmlcm"}) {
		t.Fatalf("issuers %+v", cfg.Issuers)
	}
	l := cfg.Login
	if l == nil || l.RedirectURL != "https://cmlcm.example.com/api/auth/callback" || l.PostLogoutRedirectURL != "https://cmlcm.example.com/" ||
		l.Issuer != "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Ab" || l.LogoutRedirectParam != "logout_uri" {
		t.Fatalf("login %+v", l)
	}
	if _, err := ConfigFromEnv(func(string) (string, bool) { return "", false }, nil); err == nil {
		t.Fatal("empty environment accepted")
	}
	if _, err := ParseClientCredentials("not json s3cret"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("bad secret: %v", err)
	}
	c, err := ParseClientCredentials(`{"clientId":"id","clientSecret":"s3cret"}`)
	if err != nil || c.ClientSecret != "s3cret" || strings.Contains(c.String(), "s3cret") {
		t.Fatalf("%v %v", c, err)
	}
}
