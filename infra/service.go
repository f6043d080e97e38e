package main

import (
	"encoding/json"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/cmlcm/cmlcm/internal/routes"
)

// Service is everything without data: the Lambdas, both APIs, the
// distribution, the state machine, EventBridge rules, alarms. Replacing it
// loses nothing.
type Service struct {
	Stack    awscdk.Stack
	env      Environment
	stateful *Stateful
	perms    *Permissions
	fns      *fnFactory

	api     *restAPI
	ws      *webSocketAPI
	edge    *edge
	login   *loginClient
	flow    *provisioning
	monitor *monitoring

	// RouteFunctions maps each route name to its function.
	RouteFunctions map[string]awslambda.Function
	// dlqs are every dead-letter queue, for alarms.
	dlqs map[string]awssqs.Queue
	// streamFns are the functions fed by DynamoDB streams (iterator age).
	streamFns map[string]awslambda.Function
}

func newService(scope constructs.Construct, env Environment, assets Assets, st *Stateful) *Service {
	stack := awscdk.NewStack(scope, jsii.String(env.prefix()+"-service"), &awscdk.StackProps{
		Env:                   awsEnv(env.Account, env.Region),
		Description:           jsii.String("CML Cloud Manager (" + env.Name + "): Lambdas, REST and WebSocket APIs, CloudFront, workflow, schedules, alarms"),
		TerminationProtection: jsii.Bool(env.Retain),
	})
	s := &Service{
		Stack: stack, env: env, stateful: st,
		RouteFunctions: map[string]awslambda.Function{},
		dlqs:           map[string]awssqs.Queue{},
		streamFns:      map[string]awslambda.Function{},
	}
	s.perms = &Permissions{
		env:          env,
		tables:       &st.Tables,
		busARN:       *st.Bus.EventBusArn(),
		cmlSecretARN: *st.CMLSecret.SecretArn(),
	}
	s.monitor = newMonitoring(stack, env)

	// The APIs first (their ids only), then the distribution in front of
	// them: the public URL is known before any function that needs it.
	s.api = newRestAPI(stack, env)
	s.ws = newWebSocketAPI(stack, env)
	s.perms.wsManageARN = s.ws.manageARN(env)
	s.edge = newEdge(stack, env, st, s.api, s.ws)
	s.login = newLoginClient(stack, env, st.Identity, s.edge.publicURL)
	s.perms.oidcSecretARN = *s.login.Secret.SecretArn()

	s.fns = newFnFactory(env, assets, s.perms, s.commonEnv())

	// The automation Lambda, then the state machine that drives it.
	provision := s.fns.function(stack, fnSpec{
		ID: "Provision", Binary: fnProvision, Timeout: taskTimeout(provisioningWorkflow()).Seconds(), Memory: 512,
		Description: "Provisioning workflow steps and background jobs (license, refresh)",
		Groups: []string{routes.ReadWorkers, routes.WriteEvents, routes.ReadEvents, routes.ReadSettings,
			routes.EC2Launch, routes.EC2Control, routes.EC2Describe, routes.CMLCredentials, routes.LicenseSecrets},
	})
	s.perms.automationARN = *provision.FunctionArn()
	s.flow = newProvisioning(stack, env, provision, s.monitor)
	s.perms.stateMachineARN = *s.flow.Machine.StateMachineArn()
	// Every function from here on knows the machine and the automation
	// function; the automation function itself does not (that would be a
	// dependency cycle, and it needs neither).
	s.fns.common[envStateMachine] = s.flow.Machine.StateMachineArn()
	s.fns.common[envAutomationFn] = provision.FunctionName()

	s.addRoutes()
	s.addStreamConsumers()
	s.addWebSocketHandler()
	s.addSchedules()
	s.edge.deployDashboard(stack, env, assets)

	s.monitor.alarmFunctions(stack, append(s.fns.functions(), builtFn{spec: fnSpec{ID: "PreTokenGeneration"}, fn: st.Identity.PreToken}))
	s.monitor.alarmQueues(stack, s.dlqs)
	s.monitor.alarmIteratorAge(stack, s.streamFns)
	s.monitor.dashboard(stack, s)

	awscdk.NewCfnOutput(stack, jsii.String("PublicURL"), &awscdk.CfnOutputProps{Value: jsii.String(s.edge.publicURL)})
	awscdk.NewCfnOutput(stack, jsii.String("DistributionDomainName"), &awscdk.CfnOutputProps{
		Description: jsii.String("Point the domain's DNS (CNAME or alias) here"),
		Value:       s.edge.Distribution.DistributionDomainName(),
	})
	awscdk.NewCfnOutput(stack, jsii.String("StateMachineArn"), &awscdk.CfnOutputProps{Value: s.flow.Machine.StateMachineArn()})
	return s
}

// commonEnv is what every service function is configured with: names are
// not secrets, and one shape everywhere keeps internal/config simple.
// Permissions, not configuration, limit what each function may touch.
func (s *Service) commonEnv() map[string]string {
	t := s.stateful.Tables
	regions, _ := json.Marshal(workerRegionsEnv(s.env))
	return map[string]string{
		envEnvironment:      s.env.Name,
		envEventsTable:      *t.Events.TableName(),
		envWorkersTable:     *t.Workers.TableName(),
		envLabsTable:        *t.Labs.TableName(),
		envActivityTable:    *t.Activity.TableName(),
		envTelemetryTable:   *t.Telemetry.TableName(),
		envSessionsTable:    *t.Sessions.TableName(),
		envConnectionsTable: *t.Connections.TableName(),
		envEventBus:         *s.stateful.Bus.EventBusName(),
		envSecretsPrefix:    secretsPrefix(s.env),
		envOIDCSecret:       *s.login.Secret.SecretArn(),
		envOIDCLoginIssuer:  s.stateful.Identity.issuer(s.env),
		envOIDCIssuers:      strings.Join([]string{s.stateful.Identity.issuer(s.env), s.env.Keycloak.IssuerURL}, ","),
		envOIDCAudiences:    strings.Join([]string{*s.login.Client.UserPoolClientId(), s.env.Keycloak.ClientID}, ","),
		envOIDCEndSession:   s.stateful.Identity.hostedURL(s.env) + "/logout",
		envOIDCLogoutParam:  "logout_uri",
		envPublicURL:        s.edge.publicURL,
		envWorkerRegions:    string(regions),
		envWSEndpoint:       s.ws.managementEndpoint(s.env),
		envManagedTag:       managedTag,
	}
}

// workerRegionEnv is one WORKER_REGIONS entry; "name" and "roleArn"
// unmarshal into ec2cloud.Region as they are.
type workerRegionEnv struct {
	Region           string   `json:"name"`
	Account          string   `json:"account"`
	RoleARN          string   `json:"roleArn,omitempty"`
	SubnetIDs        []string `json:"subnetIds,omitempty"`
	SecurityGroupIDs []string `json:"securityGroupIds,omitempty"`
	AMINamePatterns  []string `json:"amiNamePatterns,omitempty"`
}

func workerRegionsEnv(env Environment) []workerRegionEnv {
	out := []workerRegionEnv{}
	for _, w := range env.WorkerRegions {
		out = append(out, workerRegionEnv{Region: w.Region, Account: w.Account(env.Account), RoleARN: w.RoleARN,
			SubnetIDs: w.SubnetIDs, SecurityGroupIDs: w.SecurityGroupIDs, AMINamePatterns: w.AMINamePatterns})
	}
	return out
}

// addRoutes creates one function per route of the route table and its API
// Gateway method.
func (s *Service) addRoutes() {
	authorizer := s.fns.function(s.Stack, fnSpec{
		ID: "Authorizer", Binary: fnAuthorizer, Timeout: 10,
		Description: "API Gateway REQUEST authorizer: session cookie or bearer JWT",
		Groups:      []string{routes.Sessions, routes.OIDCClient},
	})
	s.api.setAuthorizer(s.Stack, authorizer)
	for _, r := range routes.All {
		fn := s.fns.function(s.Stack, fnSpec{
			ID: routeFunctionID(r), Binary: fnAPI,
			Description: r.Method + " " + r.Path + " — " + r.Summary,
			Groups:      r.Permissions,
			Env:         map[string]string{envRouteName: r.Name},
		})
		s.RouteFunctions[r.Name] = fn
		s.api.addRoute(r, fn)
	}
}

// routeFunctionID is the construct id of a route's function ("RouteListWorkers").
func routeFunctionID(r routes.Route) string {
	return "Route" + strings.ToUpper(r.Name[:1]) + r.Name[1:]
}
