// Command tick is the Lambda an EventBridge schedule invokes every minute:
// it runs one monitor tick over (event time − 1 minute, event time].
// Wiring only.
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/guregu/dynamo/v2"

	"github.com/cmlcm/cmlcm/internal/config"
	"github.com/cmlcm/cmlcm/internal/ec2cloud"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	esdynamo "github.com/cmlcm/cmlcm/internal/eventstore/dynamo"
	"github.com/cmlcm/cmlcm/internal/lab"
	"github.com/cmlcm/cmlcm/internal/monitor"
	"github.com/cmlcm/cmlcm/internal/provision"
	rmdynamo "github.com/cmlcm/cmlcm/internal/readmodel/dynamo"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// period is the EventBridge schedule's rate.
const period = time.Minute

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	env, err := config.Require(nil, config.EnvEventsTable, config.EnvWorkersTable, config.EnvLabsTable,
		config.EnvActivityTable, config.EnvEnvironment)
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
	ec2, err := ec2cloud.New(cfg, ec2cloud.Options{Logger: log})
	if err != nil {
		log.Error("ec2 client", "err", err)
		os.Exit(1)
	}
	workers := eventstore.NewRepository(store, worker.New, eventstore.WithLogger(log))
	settingsOf := provision.SettingsFrom(eventstore.NewRepository(store, settings.New))
	m := monitor.New(monitor.Options{
		Workers: workers, Labs: eventstore.NewRepository(store, lab.New), ReadModel: rm, Settings: settingsOf,
		Cloud: ec2, License: monitor.NewLicenseJobs(workers, settingsOf, nil, nil, false, log),
		// Telemetry: the fleet's DynamoDB telemetry store (TELEMETRY_TABLE) once wired.
		Metrics: monitor.NewEMF(os.Stdout, "CMLCloudManager", env[config.EnvEnvironment]), Logger: log,
	})
	lambda.Start(func(ctx context.Context, e events.CloudWatchEvent) error {
		now := e.Time
		if now.IsZero() {
			now = time.Now()
		}
		_, err := m.Tick(ctx, now.Add(-period), now)
		return err
	})
}
