package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestBuildNamesMissingConfiguration(t *testing.T) {
	for _, k := range []string{"SESSIONS_TABLE", "OIDC_ISSUERS", "OIDC_AUDIENCES"} {
		t.Setenv(k, "")
	}
	_, err := build(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "SESSIONS_TABLE") || !strings.Contains(err.Error(), "OIDC_ISSUERS") {
		t.Fatalf("err = %v", err)
	}
}

// TestWiring builds the authorizer as the Lambda runtime would (without a
// login client, so no Secrets Manager call) and checks it answers a
// request without credentials with API Gateway's "Unauthorized".
func TestWiring(t *testing.T) {
	t.Setenv("SESSIONS_TABLE", "cmlcm-test-sessions")
	t.Setenv("OIDC_ISSUERS", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Test,https://keycloak.example.com/realms/cmlcm")
	t.Setenv("OIDC_AUDIENCES", "cognito-client,cmlcm")
	t.Setenv("OIDC_SECRET_ARN", "")
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	a, err := build(context.Background(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = a.Handle(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type: "REQUEST", MethodArn: "arn:aws:execute-api:eu-west-1:123456789012:abc/prod/GET/api/workers",
		Headers: map[string]string{"Authorization": "None", "Cookie": "cmlcm-anonymous=1"},
	})
	if err == nil || err.Error() != "Unauthorized" {
		t.Fatalf("err = %v, want Unauthorized", err)
	}
}
