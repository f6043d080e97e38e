// Command provision is the Lambda behind every Task state of the
// provisioning state machine (generated in infra/ from provision.Spec()).
// It dispatches on the input's "task" field. Wiring only.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/guregu/dynamo/v2"

	"github.com/cmlcm/cmlcm/internal/config"
	"github.com/cmlcm/cmlcm/internal/ec2cloud"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	esdynamo "github.com/cmlcm/cmlcm/internal/eventstore/dynamo"
	"github.com/cmlcm/cmlcm/internal/provision"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/worker"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	env, err := config.Require(nil, config.EnvEventsTable, config.EnvEnvironment)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	ctx := context.Background()
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		log.Error("aws configuration", "err", err)
		os.Exit(1)
	}
	store := esdynamo.New(dynamo.New(cfg), env[config.EnvEventsTable])
	ec2, err := ec2cloud.New(cfg, ec2cloud.Options{Logger: log})
	if err != nil {
		log.Error("ec2 client", "err", err)
		os.Exit(1)
	}
	tasks := provision.NewTasks(provision.Deps{
		Workers:     eventstore.NewRepository(store, worker.New, eventstore.WithLogger(log)),
		Settings:    provision.SettingsFrom(eventstore.NewRepository(store, settings.New)),
		Cloud:       ec2,
		Environment: env[config.EnvEnvironment],
		// Tokens: the secret store adapter, once it exists; without it the
		// register-license step is skipped and the API registers later.
		Logger: log,
	})
	lambda.Start(func(ctx context.Context, st provision.State) (provision.State, error) {
		return tasks.Run(ctx, "", st)
	})
}
