package main

import (
	"maps"
	"slices"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Environment variables the stacks set for the Lambdas. The names are the
// run-time code's (internal/config, internal/auth); they are repeated here
// so that infra does not import run-time packages.
const (
	envEnvironment      = "CMLCM_ENV"
	envEventsTable      = "EVENTS_TABLE"
	envWorkersTable     = "WORKERS_TABLE"
	envLabsTable        = "LABS_TABLE"
	envActivityTable    = "ACTIVITY_TABLE"
	envTelemetryTable   = "TELEMETRY_TABLE"
	envSessionsTable    = "SESSIONS_TABLE"
	envConnectionsTable = "CONNECTIONS_TABLE"
	envEventBus         = "EVENT_BUS_NAME"
	envRouteName        = "ROUTE_NAME"     // the route the api binary serves
	envSecretsPrefix    = "SECRETS_PREFIX" // "cmlcm/<env>/": CML credentials, license tokens
	// internal/auth.
	envOIDCIssuers     = "OIDC_ISSUERS"               // trusted issuers: the Cognito pool, the Keycloak realm
	envOIDCAudiences   = "OIDC_AUDIENCES"             // accepted client ids
	envOIDCLoginIssuer = "OIDC_LOGIN_ISSUER"          // the login flow's issuer (the Cognito pool)
	envOIDCSecret      = "OIDC_SECRET_ARN"            // {"clientId","clientSecret","issuer"} of the login client
	envOIDCEndSession  = "OIDC_END_SESSION_URL"       // Cognito's logout endpoint (its discovery has none)
	envOIDCLogoutParam = "OIDC_LOGOUT_REDIRECT_PARAM" // Cognito calls the post-logout redirect "logout_uri"
	envPublicURL       = "PUBLIC_URL"                 // https://host the dashboard and API are served at
	// Set for the automation's wiring (issue 5).
	envWorkerRegions = "WORKER_REGIONS"              // JSON [{name, account, roleArn, subnetIds, securityGroupIds, amiNamePatterns}]
	envStateMachine  = "PROVISION_STATE_MACHINE_ARN" // the provisioning workflow
	envAutomationFn  = "AUTOMATION_FUNCTION"         // the provision Lambda, for background jobs
	envWSEndpoint    = "WS_MANAGEMENT_ENDPOINT"      // https endpoint of the WebSocket @connections API
	envManagedTag    = "MANAGED_TAG"                 // cmlcm:managed
)

// fnSpec describes one Lambda function.
type fnSpec struct {
	ID          string // construct id
	Binary      string // build/lambda/<Binary>.zip
	Description string
	// Groups are the permission groups (routes.* constants or the infra
	// groups of permissions.go) the function's role gets, and nothing else.
	Groups  []string
	Env     map[string]string
	Memory  float64 // MiB; 0 = 256
	Timeout float64 // seconds; 0 = 29 (the REST API's integration limit)
}

// fnFactory builds functions the same way everywhere: arm64,
// provided.al2023, a log group with the environment's retention, JSON
// logs, X-Ray tracing, and a role of its own holding only its groups.
type fnFactory struct {
	env    Environment
	assets Assets
	perms  *Permissions
	common map[string]*string
	// built records every function by construct id, with its spec, for
	// alarms, the dashboard and the tests.
	built []builtFn
}

type builtFn struct {
	spec fnSpec
	fn   awslambda.Function
}

func newFnFactory(env Environment, assets Assets, perms *Permissions, common map[string]string) *fnFactory {
	c := map[string]*string{}
	for k, v := range common {
		c[k] = jsii.String(v)
	}
	return &fnFactory{env: env, assets: assets, perms: perms, common: c}
}

func (f *fnFactory) function(scope constructs.Construct, s fnSpec) awslambda.Function {
	logs := awslogs.NewLogGroup(scope, jsii.String(s.ID+"Logs"), &awslogs.LogGroupProps{
		Retention:     retentionDays(f.env.LogRetentionDays),
		RemovalPolicy: f.env.removal(),
	})
	// A role per function, with no managed policies: the function may write
	// its own log group and traces, plus exactly its groups.
	role := awsiam.NewRole(scope, jsii.String(s.ID+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Role of the " + s.ID + " Lambda (" + f.env.prefix() + ")"),
	})
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("OwnLogGroup"),
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: &[]*string{logs.LogGroupArn()},
	}))
	for _, st := range f.perms.Statements(s.Groups) {
		role.AddToPrincipalPolicy(st)
	}

	env := maps.Clone(f.common)
	for k, v := range s.Env {
		env[k] = jsii.String(v)
	}
	memory, timeout := s.Memory, s.Timeout
	if memory == 0 {
		memory = 256
	}
	if timeout == 0 {
		timeout = 29
	}
	fn := awslambda.NewFunction(scope, jsii.String(s.ID), &awslambda.FunctionProps{
		Description:           jsii.String(s.Description),
		Code:                  f.assets.Code(s.Binary),
		Handler:               jsii.String("bootstrap"),
		Runtime:               awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:          awslambda.Architecture_ARM_64(),
		MemorySize:            jsii.Number(memory),
		Timeout:               awscdk.Duration_Seconds(jsii.Number(timeout)),
		Role:                  role,
		LogGroup:              logs,
		LoggingFormat:         awslambda.LoggingFormat_JSON,
		ApplicationLogLevelV2: awslambda.ApplicationLogLevel_INFO,
		SystemLogLevelV2:      awslambda.SystemLogLevel_WARN,
		Tracing:               awslambda.Tracing_ACTIVE,
		Environment:           &env,
	})
	f.built = append(f.built, builtFn{spec: s, fn: fn})
	return fn
}

// functions returns the functions built so far, in creation order.
func (f *fnFactory) functions() []builtFn { return slices.Clone(f.built) }

// retentionDays maps validated configuration to the CDK enum.
func retentionDays(days int) awslogs.RetentionDays { return logRetentions[days] }
