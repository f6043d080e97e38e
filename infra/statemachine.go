package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/jsii-runtime-go"
)

// taskFunctionSubstitution is the placeholder of the task Lambda's ARN in
// the generated definition; CloudFormation substitutes it
// (DefinitionSubstitutions), so the definition text is exactly what the
// workflow spec generates and a test can compare the two.
const taskFunctionSubstitution = "TaskFunctionArn"

// provisioning is the Standard state machine that runs the provisioning
// workflow, with its failure alarm.
type provisioning struct {
	Machine awsstepfunctions.StateMachine
	// FailedAlarm fires on any failed, timed-out or aborted execution.
	FailedAlarm awscloudwatch.Alarm
}

func newProvisioning(stack awscdk.Stack, env Environment, task awslambda.Function, mon *monitoring) *provisioning {
	definition, err := provisioningDefinition("${" + taskFunctionSubstitution + "}")
	if err != nil {
		panic(fmt.Sprintf("provisioning workflow: %v", err))
	}
	logs := awslogs.NewLogGroup(stack, jsii.String("ProvisioningLogs"), &awslogs.LogGroupProps{
		// Step Functions' own prefix keeps the resource policy CloudWatch
		// Logs needs for vended logs small.
		LogGroupName:  jsii.String("/aws/vendedlogs/states/" + env.prefix() + "-provisioning"),
		Retention:     retentionDays(env.LogRetentionDays),
		RemovalPolicy: env.removal(),
	})
	role := awsiam.NewRole(stack, jsii.String("ProvisioningRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), nil),
		Description: jsii.String("Provisioning state machine (" + env.prefix() + "): invoke the task Lambda"),
	})
	// Only the task function (and its versions: lambda:invoke may name one).
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("InvokeTask"),
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &[]*string{task.FunctionArn(), jsii.String(*task.FunctionArn() + ":*")},
	}))
	machine := awsstepfunctions.NewStateMachine(stack, jsii.String("Provisioning"), &awsstepfunctions.StateMachineProps{
		StateMachineName:        jsii.String(env.prefix() + "-provisioning"),
		StateMachineType:        awsstepfunctions.StateMachineType_STANDARD,
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(definition)),
		DefinitionSubstitutions: &map[string]*string{taskFunctionSubstitution: task.FunctionArn()},
		Role:                    role,
		TracingEnabled:          jsii.Bool(true),
		Logs: &awsstepfunctions.LogOptions{
			Destination: logs,
			Level:       awsstepfunctions.LogLevel_ALL,
			// Execution data holds the worker's state document only (no
			// secrets: tokens stay in Secrets Manager), and it is what an
			// operator needs to see why a step failed.
			IncludeExecutionData: jsii.Bool(true),
		},
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	p := &provisioning{Machine: machine}
	failed := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Label:      jsii.String("failed + timed out + aborted"),
		Expression: jsii.String("f + t + a"),
		Period:     awscdk.Duration_Minutes(jsii.Number(5)),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"f": machine.MetricFailed(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum")}),
			"t": machine.MetricTimedOut(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum")}),
			"a": machine.MetricAborted(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum")}),
		},
	})
	p.FailedAlarm = mon.alarm(stack, "ProvisioningFailedAlarm", failed, 1,
		"A provisioning workflow execution failed, timed out or was aborted (its worker is failed; see the execution's history)")
	return p
}
