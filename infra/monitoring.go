package main

import (
	"sort"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"
)

// Alarm thresholds.
const (
	// iteratorAgeAlarmMs: the projector (or notifier) is this far behind
	// its stream — the dashboard shows stale data.
	iteratorAgeAlarmMs = 60_000
)

// monitoring owns the alarm topic, the alarms and the dashboard.
type monitoring struct {
	Topic  awssns.Topic
	action awscloudwatch.IAlarmAction
	Alarms []awscloudwatch.Alarm
}

func newMonitoring(stack awscdk.Stack, env Environment) *monitoring {
	// CloudWatch cannot publish to a topic encrypted with the AWS-managed
	// SNS key, so the topic has its own key that CloudWatch may use.
	key := awskms.NewKey(stack, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description:       jsii.String("Encrypts the " + env.prefix() + " alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     env.removal(),
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"), // in a key policy, "*" is this key
		Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": env.Account}},
	}), nil)
	topic := awssns.NewTopic(stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		TopicName:   jsii.String(env.prefix() + "-alarms"),
		DisplayName: jsii.String("CML Cloud Manager " + env.Name + " alarms"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	if env.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(env.AlarmEmail), nil))
	}
	return &monitoring{Topic: topic, action: awscloudwatchactions.NewSnsAction(topic)}
}

// alarm fires when metric >= threshold for one 5-minute period.
func (m *monitoring) alarm(stack awscdk.Stack, id string, metric awscloudwatch.IMetric, threshold float64, description string) awscloudwatch.Alarm {
	a := awscloudwatch.NewAlarm(stack, jsii.String(id), &awscloudwatch.AlarmProps{
		Metric:             metric,
		Threshold:          jsii.Number(threshold),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		AlarmDescription:   jsii.String(description),
	})
	a.AddAlarmAction(m.action)
	a.AddOkAction(m.action)
	m.Alarms = append(m.Alarms, a)
	return a
}

var fiveMinutes = awscdk.Duration_Minutes(jsii.Number(5))

// alarmFunctions: any error of any function. Errors are rare by design
// (handlers answer problems, not exceptions), so one is worth a look.
func (m *monitoring) alarmFunctions(stack awscdk.Stack, fns []builtFn) {
	for _, b := range fns {
		m.alarm(stack, b.spec.ID+"ErrorsAlarm",
			b.fn.MetricErrors(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Sum")}), 1,
			"Lambda "+b.spec.ID+" reported errors")
	}
}

func (m *monitoring) alarmQueues(stack awscdk.Stack, qs map[string]awssqs.Queue) {
	for _, id := range sortedKeys(qs) {
		m.alarm(stack, id+"DepthAlarm",
			qs[id].MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Maximum")}), 1,
			"Dead-letter queue "+id+" holds messages: records or events were given up on (inspect and redrive)")
	}
}

func (m *monitoring) alarmIteratorAge(stack awscdk.Stack, fns map[string]awslambda.Function) {
	for _, id := range sortedKeys(fns) {
		m.alarm(stack, id+"IteratorAgeAlarm",
			fns[id].Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Maximum")}),
			iteratorAgeAlarmMs, id+" is more than a minute behind its DynamoDB stream")
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// dashboard: API traffic and errors, function errors and durations, stream
// lag, dead-letter queues, workflow outcomes.
func (m *monitoring) dashboard(stack awscdk.Stack, s *Service) {
	opts := func(stat string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String(stat)}
	}
	graph := func(title string, left ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Left: &left, Width: jsii.Number(12)})
	}
	api := s.api.API
	var errs, durations []awscloudwatch.IMetric
	for _, b := range s.fns.functions() {
		errs = append(errs, b.fn.MetricErrors(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Sum"), Label: jsii.String(b.spec.ID)}))
		if b.spec.Binary != fnAPI {
			durations = append(durations, b.fn.MetricDuration(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("p99"), Label: jsii.String(b.spec.ID)}))
		}
	}
	var lag, depth []awscloudwatch.IMetric
	for _, id := range sortedKeys(s.streamFns) {
		lag = append(lag, s.streamFns[id].Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Maximum"), Label: jsii.String(id)}))
	}
	for _, id := range sortedKeys(s.dlqs) {
		depth = append(depth, s.dlqs[id].MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: fiveMinutes, Statistic: jsii.String("Maximum"), Label: jsii.String(id)}))
	}
	sm := s.flow.Machine
	awscloudwatch.NewDashboard(stack, jsii.String("OpsDashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String(s.env.prefix()),
		Widgets: &[]*[]awscloudwatch.IWidget{
			{
				graph("API requests and errors", api.MetricCount(opts("Sum")), api.MetricClientError(opts("Sum")), api.MetricServerError(opts("Sum"))),
				graph("API latency (p50, p99)", api.MetricLatency(opts("p50")), api.MetricLatency(opts("p99"))),
			},
			{graph("Lambda errors", errs[:min(len(errs), 50)]...), graph("Lambda duration p99 (non-route)", durations...)},
			{graph("Stream iterator age (ms)", lag...), graph("Dead-letter queue depth", depth...)},
			{graph("Provisioning executions", sm.MetricStarted(opts("Sum")), sm.MetricSucceeded(opts("Sum")),
				sm.MetricFailed(opts("Sum")), sm.MetricTimedOut(opts("Sum")), sm.MetricAborted(opts("Sum")))},
		},
	})
}
