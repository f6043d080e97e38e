// Command api is the Lambda of one API route: API Gateway (REST, proxy
// integration) invokes it with the request, already authorized by
// lambdas/authorizer; ROUTE_NAME says which route of internal/routes it
// serves (the CDK app deploys one function per route, each with only the
// permissions its route needs). Wiring only.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/guregu/dynamo/v2"

	"github.com/cmlcm/cmlcm/internal/api"
	"github.com/cmlcm/cmlcm/internal/config"
	"github.com/cmlcm/cmlcm/internal/ec2cloud"
	esdynamo "github.com/cmlcm/cmlcm/internal/eventstore/dynamo"
	"github.com/cmlcm/cmlcm/internal/fleet"
	rmdynamo "github.com/cmlcm/cmlcm/internal/readmodel/dynamo"
	"github.com/cmlcm/cmlcm/internal/secrets"
	tmdynamo "github.com/cmlcm/cmlcm/internal/telemetry/dynamo"
)

// version is set at build time (-ldflags -X main.version=…).
var version = "dev"

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	h, err := build(context.Background(), log)
	if err != nil {
		log.Error("cold start", "err", err)
		os.Exit(1)
	}
	lambda.Start(h)
}

func build(ctx context.Context, log *slog.Logger) (func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error), error) {
	env, err := config.Require(nil, config.EnvRouteName, config.EnvEventsTable, config.EnvWorkersTable,
		config.EnvLabsTable, config.EnvActivityTable, config.EnvTelemetryTable, config.EnvSecretsPrefix, config.EnvEnvironment)
	if err != nil {
		return nil, err
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("aws configuration: %w", err)
	}
	db := dynamo.New(cfg)
	ec2, err := ec2cloud.New(cfg, ec2cloud.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("ec2 client: %w", err)
	}
	svc, err := fleet.New(fleet.Deps{
		EventStore: esdynamo.New(db, env[config.EnvEventsTable]),
		ReadModel: rmdynamo.New(db, rmdynamo.Tables{Workers: env[config.EnvWorkersTable], Labs: env[config.EnvLabsTable],
			Activity: env[config.EnvActivityTable]}),
		Cloud:       ec2,
		Secrets:     secrets.NewSecretsManager(secretsmanager.NewFromConfig(cfg), env[config.EnvSecretsPrefix], 0),
		Telemetry:   tmdynamo.New(db, env[config.EnvTelemetryTable]),
		Environment: env[config.EnvEnvironment],
		Logger:      log,
		// Provisioner (Step Functions), LicenseJobs and Refresher come from
		// the automation (issue 5); until wired, their routes answer 503.
	})
	if err != nil {
		return nil, err
	}
	return handler(env[config.EnvRouteName], svc, log)
}

// handler serves exactly one route, trusting the authorizer's principal.
func handler(route string, svc *fleet.Service, log *slog.Logger) (func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error), error) {
	router, err := api.NewRouter(api.Options{Fleet: svc, Authenticator: api.AuthorizerAuthenticator(), Only: route,
		Logger: log.With("route", route), Version: version, HealthInfo: map[string]any{"mode": "aws"}})
	if err != nil {
		return nil, err
	}
	return api.LambdaHandler(router), nil
}
