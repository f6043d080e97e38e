package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cmlcm/cmlcm/internal/api"
	"github.com/cmlcm/cmlcm/internal/fleet"
	"github.com/cmlcm/cmlcm/internal/local"
)

// gwRequest is an API Gateway REST proxy event as the authorizer passes it on.
func gwRequest(method, path string, pathParams map[string]string, principal, roles string, body string) events.APIGatewayProxyRequest {
	req := events.APIGatewayProxyRequest{HTTPMethod: method, Path: path, Resource: path, PathParameters: pathParams,
		Headers: map[string]string{"Content-Type": "application/json"}, Body: body,
		RequestContext: events.APIGatewayProxyRequestContext{RequestID: "gw-req-1", Stage: "prod", HTTPMethod: method, Path: path}}
	if principal != "" {
		req.RequestContext.Authorizer = map[string]any{api.AuthorizerPrincipal: principal, api.AuthorizerRoles: roles}
	}
	return req
}

// TestRouteLambda feeds API Gateway events to the Lambda handler of one
// route and compares its answers with the local router's for the same
// requests: same status, same body shape; other routes are refused.
func TestRouteLambda(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	rt, err := local.OpenRuntime(local.RuntimeOptions{DataDir: t.TempDir(), Logger: log, PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	ctx := context.Background()
	if _, err := rt.Fleet.UpdateSettings(ctx, json.RawMessage(`{"prices":{"m5zn.metal":4}}`)); err != nil {
		t.Fatal(err)
	}

	h, err := handler("getSettings", rt.Fleet, log)
	if err != nil {
		t.Fatal(err)
	}
	admin := `{"subject":"s-1","username":"alice","roles":["ignored"]}`

	// The local router answers the same request.
	localRouter, err := api.NewRouter(api.Options{Fleet: rt.Fleet, Logger: log,
		Authenticator: api.AuthenticatorFunc(func(*http.Request) (api.Principal, error) {
			return api.Principal{Subject: "s-1", Username: "alice", Roles: []string{"admin"}}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	localRouter.ServeHTTP(rec, httptest.NewRequest("GET", "/api/settings", nil))
	localBody, _ := io.ReadAll(rec.Body)

	resp, err := h(ctx, gwRequest("GET", "/api/settings", nil, admin, "admin", ""))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || rec.Code != 200 || resp.Body != string(localBody) {
		t.Fatalf("lambda %d %s\nlocal %d %s", resp.StatusCode, resp.Body, rec.Code, localBody)
	}
	if header(resp, "Content-Type") != "application/json" || header(resp, "X-Request-Id") == "" {
		t.Errorf("headers %v %v", resp.Headers, resp.MultiValueHeaders)
	}

	// The roles come from the authorizer's roles key.
	resp, _ = h(ctx, gwRequest("GET", "/api/settings", nil, admin, "user,manager", ""))
	if resp.StatusCode != 403 || !strings.Contains(resp.Body, "/problems/forbidden") {
		t.Errorf("manager: %d %s", resp.StatusCode, resp.Body)
	}
	// No authorizer context: unauthenticated.
	resp, _ = h(ctx, gwRequest("GET", "/api/settings", nil, "", "", ""))
	if resp.StatusCode != 401 || !strings.HasPrefix(header(resp, "WWW-Authenticate"), "Bearer") {
		t.Errorf("anonymous: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	// Another route is not served by this function.
	for _, req := range []events.APIGatewayProxyRequest{
		gwRequest("PUT", "/api/settings", nil, admin, "admin", `{"prices":{"m5zn.metal":1}}`),
		gwRequest("GET", "/api/workers", nil, admin, "admin", ""),
	} {
		resp, _ = h(ctx, req)
		if resp.StatusCode != 404 && resp.StatusCode != 405 {
			t.Errorf("%s %s served: %d %s", req.HTTPMethod, req.Path, resp.StatusCode, resp.Body)
		}
	}
	if v, _ := rt.Fleet.Settings(ctx); v.Prices["m5zn.metal"] != 4 {
		t.Error("the refused PUT changed the settings")
	}

	// A command through a route Lambda records the authorizer's principal
	// as the actor.
	put, err := handler("putSettings", rt.Fleet, log)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = put(ctx, gwRequest("PUT", "/api/settings", nil, "sub-bob", "admin", `{"prices":{"m5zn.metal":5}}`))
	var v fleet.Settings
	if err := json.Unmarshal([]byte(resp.Body), &v); err != nil || resp.StatusCode != 200 || v.UpdatedBy != "sub-bob" {
		t.Errorf("put: %d %s", resp.StatusCode, resp.Body)
	}

	// A route with path parameters.
	gw, err := handler("getWorker", rt.Fleet, log)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = gw(ctx, gwRequest("GET", "/api/workers/nope", map[string]string{"id": "nope"}, admin, "user", ""))
	if resp.StatusCode != 404 || !strings.Contains(resp.Body, "/problems/not-found") {
		t.Errorf("unknown worker: %d %s", resp.StatusCode, resp.Body)
	}

	if _, err := handler("noSuchRoute", rt.Fleet, log); err == nil {
		t.Error("an unknown ROUTE_NAME was accepted")
	}
}

// header reads a response header whether the adapter put it in Headers or
// MultiValueHeaders.
func header(resp events.APIGatewayProxyResponse, name string) string {
	for k, v := range resp.Headers {
		if http.CanonicalHeaderKey(k) == http.CanonicalHeaderKey(name) {
			return v
		}
	}
	for k, v := range resp.MultiValueHeaders {
		if http.CanonicalHeaderKey(k) == http.CanonicalHeaderKey(name) && len(v) > 0 {
			return v[0]
		}
	}
	return ""
}
