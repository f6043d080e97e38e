// Command projector is the Lambda fed by the events table's DynamoDB Stream:
// it updates the read models and publishes integration events. Wiring only.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/guregu/dynamo/v2"

	"github.com/cmlcm/cmlcm/internal/bus"
	"github.com/cmlcm/cmlcm/internal/config"
	esdynamo "github.com/cmlcm/cmlcm/internal/eventstore/dynamo"
	"github.com/cmlcm/cmlcm/internal/projector"
	rmdynamo "github.com/cmlcm/cmlcm/internal/readmodel/dynamo"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	env, err := config.Require(nil, config.EnvEventsTable, config.EnvWorkersTable, config.EnvLabsTable,
		config.EnvActivityTable, config.EnvEventBus)
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
	db := dynamo.New(cfg)
	store := esdynamo.New(db, env[config.EnvEventsTable])
	rm := rmdynamo.New(db, rmdynamo.Tables{Workers: env[config.EnvWorkersTable], Labs: env[config.EnvLabsTable],
		Activity: env[config.EnvActivityTable]})
	pub := bus.NewEventBridge(eventbridge.NewFromConfig(cfg), env[config.EnvEventBus], log)
	p := projector.New(projector.Projections(store, rm), rm, pub, log)
	lambda.Start(func(ctx context.Context, batch events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
		return p.HandleStream(ctx, batch, esdynamo.CommitFromStreamRecord)
	})
}
