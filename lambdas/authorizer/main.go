// Command authorizer is the API Gateway REQUEST authorizer: it admits a
// request carrying a valid session cookie (looked up in the sessions
// table, tokens refreshed when due) or a valid bearer JWT, and hands the
// principal and its roles to the route Lambdas in the authorizer context.
// Wiring only: the logic is internal/auth.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/guregu/dynamo/v2"

	"github.com/cmlcm/cmlcm/internal/auth"
	"github.com/cmlcm/cmlcm/internal/config"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	a, err := build(context.Background(), log)
	if err != nil {
		log.Error("cold start", "err", err)
		os.Exit(1)
	}
	lambda.Start(a.Handle)
}

func build(ctx context.Context, log *slog.Logger) (*auth.Authorizer, error) {
	env, err := config.Require(nil, config.EnvSessionsTable, auth.EnvIssuers, auth.EnvAudiences)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	// The login client's secret lets the authorizer refresh sessions'
	// tokens; without it sessions are served until they expire.
	var client *auth.ClientCredentials
	if arn := os.Getenv(auth.EnvSecretARN); arn != "" {
		out, err := secretsmanager.NewFromConfig(awsCfg).GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
		if err != nil {
			return nil, fmt.Errorf("read the OIDC client secret: %w", err)
		}
		c, err := auth.ParseClientCredentials(aws.ToString(out.SecretString))
		if err != nil {
			return nil, err
		}
		client = &c
	}
	cfg, err := auth.ConfigFromEnv(nil, client)
	if err != nil {
		return nil, err
	}
	cfg.Store = auth.NewDynamoStore(dynamo.New(awsCfg), env[config.EnvSessionsTable])
	cfg.Refresh = true
	cfg.Logger = log
	svc, err := auth.New(cfg)
	if err != nil {
		return nil, err
	}
	return auth.NewAuthorizer(svc.Authenticator, log), nil
}
