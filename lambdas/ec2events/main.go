// Command ec2events is the Lambda EventBridge invokes with every EC2
// "Instance State-change Notification". Wiring only.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/guregu/dynamo/v2"

	"github.com/cmlcm/cmlcm/internal/config"
	"github.com/cmlcm/cmlcm/internal/ec2events"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	esdynamo "github.com/cmlcm/cmlcm/internal/eventstore/dynamo"
	rmdynamo "github.com/cmlcm/cmlcm/internal/readmodel/dynamo"
	"github.com/cmlcm/cmlcm/internal/worker"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	env, err := config.Require(nil, config.EnvEventsTable, config.EnvWorkersTable, config.EnvLabsTable, config.EnvActivityTable)
	if err != nil {
		log.Error("configuration", "err", err)
		os.Exit(1)
	}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Error("aws configuration", "err", err)
		os.Exit(1)
	}
	db := dynamo.New(cfg)
	store := esdynamo.New(db, env[config.EnvEventsTable])
	rm := rmdynamo.New(db, rmdynamo.Tables{Workers: env[config.EnvWorkersTable], Labs: env[config.EnvLabsTable],
		Activity: env[config.EnvActivityTable]})
	h := ec2events.New(rm, eventstore.NewRepository(store, worker.New, eventstore.WithLogger(log)), log)
	lambda.Start(func(ctx context.Context, e events.CloudWatchEvent) error {
		_, err := h.Handle(ctx, e)
		return err
	})
}
