package main

import (
	"fmt"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/cmlcm/cmlcm/internal/routes"
)

// ec2StateChange matches EC2's instance state-change events.
func ec2StateChange() *awsevents.EventPattern {
	return &awsevents.EventPattern{
		Source:     jsii.Strings("aws.ec2"),
		DetailType: jsii.Strings("EC2 Instance State-change Notification"),
	}
}

// addSchedules wires the tick (every minute) and EC2 state changes (the
// home region's default bus, which the forwarder stacks feed from the other
// worker regions and accounts).
func (s *Service) addSchedules() {
	tick := s.fns.function(s.Stack, fnSpec{
		ID: "Tick", Binary: fnTick, Timeout: 55, Memory: 512,
		Description: "Every minute: metrics, lab refresh, idle checks, wake-ups, license jobs, discovery, reconcile",
		Groups: []string{routes.ReadWorkers, routes.WriteEvents, routes.ReadEvents, routes.ReadSettings, grpTelemetryWrite,
			routes.EC2Describe, routes.EC2Control, routes.CloudWatchRead, routes.CMLCredentials, routes.StartWorkflow,
			routes.InvokeAutomated},
	})
	tickDLQ := s.dlq("TickDLQ")
	awsevents.NewRule(s.Stack, jsii.String("TickSchedule"), &awsevents.RuleProps{
		Description: jsii.String("The fleet's one-minute tick"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(1))),
		// A late tick is useless: the next one comes a minute later.
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(tick, &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: tickDLQ, RetryAttempts: jsii.Number(2), MaxEventAge: awscdk.Duration_Minutes(jsii.Number(2)),
		})},
	})

	ec2events := s.fns.function(s.Stack, fnSpec{
		ID: "EC2Events", Binary: fnEC2Events, Timeout: 30,
		Description: "EC2 instance state changes → worker observations",
		Groups:      []string{routes.ReadWorkers, routes.WriteEvents, routes.ReadEvents},
	})
	ec2DLQ := s.dlq("EC2EventsDLQ")
	awsevents.NewRule(s.Stack, jsii.String("EC2StateChanges"), &awsevents.RuleProps{
		Description:  jsii.String("EC2 instance state changes of every worker region (forwarded here)"),
		EventPattern: ec2StateChange(),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(ec2events, &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: ec2DLQ, RetryAttempts: jsii.Number(8), MaxEventAge: awscdk.Duration_Hours(jsii.Number(6)),
		})},
	})

	// Worker accounts put their EC2 events on our default bus: admit
	// exactly those events from exactly those accounts.
	for _, acct := range s.workerAccounts() {
		// A plain CfnResource: the L1 class trips a jsii deprecation warning
		// for its legacy (unused) Principal property.
		awscdk.NewCfnResource(s.Stack, jsii.String("AcceptEC2EventsFrom"+acct), &awscdk.CfnResourceProps{
			Type: jsii.String("AWS::Events::EventBusPolicy"),
			Properties: &map[string]any{
				"EventBusName": "default",
				"StatementId":  s.env.prefix() + "-ec2-" + acct,
				"Statement": map[string]any{
					"Effect":    "Allow",
					"Principal": map[string]any{"AWS": fmt.Sprintf("arn:aws:iam::%s:root", acct)},
					"Action":    "events:PutEvents",
					"Resource":  fmt.Sprintf("arn:aws:events:%s:%s:event-bus/default", s.env.Region, s.env.Account),
					"Condition": map[string]any{"StringEquals": map[string]any{
						"events:source": "aws.ec2", "events:detail-type": "EC2 Instance State-change Notification",
					}},
				},
			},
		})
	}
}

// workerAccounts are the other accounts workers run in.
func (s *Service) workerAccounts() []string {
	var out []string
	for _, w := range s.env.WorkerRegions {
		a := w.Account(s.env.Account)
		if a != s.env.Account && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// forwarderTargets are the (account, region) pairs that need a forwarder:
// every worker region but the home region of the home account.
func forwarderTargets(env Environment) []WorkerRegion {
	var out []WorkerRegion
	for _, w := range env.WorkerRegions {
		if w.Region == env.Region && !w.CrossAccount(env.Account) {
			continue
		}
		out = append(out, w)
	}
	return out
}

// forwarderStackName names the forwarder stack of a worker region.
func forwarderStackName(env Environment, w WorkerRegion) string {
	if w.CrossAccount(env.Account) {
		return fmt.Sprintf("%s-ec2events-%s-%s", env.prefix(), w.Account(env.Account), w.Region)
	}
	return fmt.Sprintf("%s-ec2events-%s", env.prefix(), w.Region)
}

// newForwarder is a small stack in a worker region (and account) whose rule
// sends EC2 state changes to the home region's default bus. EventBridge
// rules only see their own region's events, hence one stack per region.
func newForwarder(scope constructs.Construct, env Environment, w WorkerRegion) awscdk.Stack {
	stack := awscdk.NewStack(scope, jsii.String(forwarderStackName(env, w)), &awscdk.StackProps{
		Env:         awsEnv(w.Account(env.Account), w.Region),
		Description: jsii.String(fmt.Sprintf("CML Cloud Manager (%s): forward EC2 state changes from %s to %s", env.Name, w.Region, env.Region)),
	})
	home := awsevents.EventBus_FromEventBusArn(stack, jsii.String("HomeBus"),
		jsii.String(fmt.Sprintf("arn:aws:events:%s:%s:event-bus/default", env.Region, env.Account)))
	dlq := awssqs.NewQueue(stack, jsii.String("ForwardDLQ"), &awssqs.QueueProps{
		Encryption: awssqs.QueueEncryption_SQS_MANAGED, EnforceSSL: jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	awsevents.NewRule(stack, jsii.String("ForwardEC2StateChanges"), &awsevents.RuleProps{
		Description:  jsii.String("EC2 instance state changes → " + env.Region + " default bus"),
		EventPattern: ec2StateChange(),
		Targets:      &[]awsevents.IRuleTarget{awseventstargets.NewEventBus(home, &awseventstargets.EventBusProps{DeadLetterQueue: dlq})},
	})
	return stack
}
