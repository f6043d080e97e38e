package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/cmlcm/cmlcm/internal/routes"
)

// streamSettings are the event-source-mapping settings of a stream
// consumer. Poison records are isolated (bisect + partial batch response),
// retried a bounded number of times, and then sent, as a pointer to the
// records, to an SQS queue that alarms.
type streamSettings struct {
	BatchSize     float64
	Window        float64 // seconds of batching
	RetryAttempts float64
	MaxRecordAge  float64 // seconds
}

var (
	// The projector keeps read models current: small windows, a long
	// retry budget (a stuck aggregate is retried, not skipped, for an hour).
	projectorStream = streamSettings{BatchSize: 100, Window: 1, RetryAttempts: 10, MaxRecordAge: 3600}
	// Live updates are worthless once stale: give up sooner.
	notifierStream = streamSettings{BatchSize: 100, Window: 1, RetryAttempts: 3, MaxRecordAge: 600}
)

// dlq makes a dead-letter queue (encrypted, TLS-only, two weeks).
func (s *Service) dlq(id string) awssqs.Queue {
	q := awssqs.NewQueue(s.Stack, jsii.String(id), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	s.dlqs[id] = q
	return q
}

func (s *Service) consume(fn awslambda.Function, table awsdynamodb.Table, settings streamSettings, dlq awssqs.Queue) {
	fn.AddEventSource(awslambdaeventsources.NewDynamoEventSource(table, &awslambdaeventsources.DynamoEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_TRIM_HORIZON,
		BatchSize:               jsii.Number(settings.BatchSize),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(settings.Window)),
		BisectBatchOnError:      jsii.Bool(true),
		ReportBatchItemFailures: jsii.Bool(true),
		RetryAttempts:           jsii.Number(settings.RetryAttempts),
		MaxRecordAge:            awscdk.Duration_Seconds(jsii.Number(settings.MaxRecordAge)),
		OnFailure:               awslambdaeventsources.NewSqsDlq(dlq),
	}))
}

func (s *Service) addStreamConsumers() {
	t := s.stateful.Tables
	projector := s.fns.function(s.Stack, fnSpec{
		ID: "Projector", Binary: fnProjector, Timeout: 60, Memory: 512,
		Description: "Events stream → read models (version-guarded) and integration events",
		Groups:      []string{routes.ReadEvents, grpReadModelsWrite, routes.PublishEvents},
	})
	s.consume(projector, t.Events, projectorStream, s.dlq("ProjectorDLQ"))
	s.streamFns["Projector"] = projector

	notifier := s.fns.function(s.Stack, fnSpec{
		ID: "Notifier", Binary: fnNotifier, Timeout: 30,
		Description: "Read-model streams → WebSocket pushes (worker.updated, lab.updated, worker.event)",
		Groups:      []string{grpConnections, grpWSManage, routes.ReadWorkers},
	})
	dlq := s.dlq("NotifierDLQ")
	for _, tbl := range []awsdynamodb.Table{t.Workers, t.Labs, t.Activity} {
		s.consume(notifier, tbl, notifierStream, dlq)
	}
	s.streamFns["Notifier"] = notifier
}
