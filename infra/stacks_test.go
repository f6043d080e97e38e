package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/cmlcm/cmlcm/internal/routes"
)

// nonRouteFunctions are the service stack's functions besides the routes.
var nonRouteFunctions = []string{"Provision", "Authorizer", "Projector", "Notifier", "WebSocket", "Tick", "EC2Events"}

func TestStacksPerEnvironment(t *testing.T) {
	s := synth(t)
	var names []string
	for n := range s.templates {
		names = append(names, n)
	}
	sort.Strings(names)
	var want []string
	for _, env := range s.envs {
		want = append(want, env.prefix()+"-stateful", env.prefix()+"-service")
		for _, w := range forwarderTargets(env) {
			want = append(want, forwarderStackName(env, w))
		}
	}
	sort.Strings(want)
	if !slices.Equal(names, want) {
		t.Errorf("stacks %v, want %v", names, want)
	}
}

func TestResourceCounts(t *testing.T) {
	s := synth(t)
	for _, env := range s.envs {
		stateful := s.stack(t, env.Name, "stateful").assertions()
		service := s.stack(t, env.Name, "service").assertions()
		count := func(tpl assertions.Template, typ string, n int) {
			t.Helper()
			tpl.ResourceCountIs(jsii.String(typ), jsii.Number(n))
		}
		count(stateful, "AWS::DynamoDB::Table", 7)
		count(stateful, "AWS::Cognito::UserPool", 1)
		count(stateful, "AWS::Cognito::UserPoolIdentityProvider", 1)
		count(stateful, "AWS::Cognito::UserPoolDomain", 1)
		count(stateful, "AWS::S3::Bucket", 2)
		count(stateful, "AWS::SecretsManager::Secret", 1)
		count(stateful, "AWS::Events::EventBus", 1)
		count(stateful, "AWS::Events::Archive", 1)

		// One function per route, the seven others, and CDK's dashboard
		// uploader (the fixture has a dashboard build).
		count(service, "AWS::Lambda::Function", len(routes.All)+len(nonRouteFunctions)+1)
		count(service, "AWS::ApiGateway::RestApi", 1)
		count(service, "AWS::ApiGateway::Method", len(routes.All))
		count(service, "AWS::ApiGateway::Authorizer", 1)
		count(service, "AWS::ApiGateway::Stage", 1)
		count(service, "AWS::ApiGatewayV2::Api", 1)
		count(service, "AWS::ApiGatewayV2::Route", 3)
		count(service, "AWS::StepFunctions::StateMachine", 1)
		count(service, "AWS::CloudFront::Distribution", 1)
		count(service, "AWS::Lambda::EventSourceMapping", 4)
		count(service, "AWS::SQS::Queue", 4)
		count(service, "AWS::CloudWatch::Dashboard", 1)
		// Errors of every function (the pool's trigger too), DLQ depth,
		// iterator age of both stream consumers, workflow failures.
		count(service, "AWS::CloudWatch::Alarm", len(routes.All)+len(nonRouteFunctions)+1+4+2+1)
	}
}

func TestTablesMatchTheStores(t *testing.T) {
	s := synth(t)
	type key struct{ hash, rng string }
	want := map[string]struct {
		keys   key
		attrs  map[string]string
		stream bool
		ttl    string
	}{
		"events":      {key{"pk", "sk"}, map[string]string{"pk": "S", "sk": "S"}, true, ""},
		"workers":     {key{"id", ""}, map[string]string{"id": "S", "fleet": "S", "sortKey": "S", "status": "S", "instanceId": "S"}, true, ""},
		"labs":        {key{"workerId", "labId"}, map[string]string{"workerId": "S", "labId": "S"}, true, ""},
		"activity":    {key{"aggregateId", "version"}, map[string]string{"aggregateId": "S", "version": "N"}, true, ""},
		"telemetry":   {key{"workerId", "at"}, map[string]string{"workerId": "S", "at": "S"}, false, "expiresAt"},
		"sessions":    {key{"id", ""}, map[string]string{"id": "S"}, false, "expiresAt"},
		"connections": {key{"connectionId", ""}, map[string]string{"connectionId": "S"}, false, "expiresAt"},
	}
	for _, env := range s.envs {
		tpl := s.stack(t, env.Name, "stateful")
		seen := 0
		for _, r := range tpl.ofType("AWS::DynamoDB::Table") {
			p := r.Properties
			name := strings.TrimPrefix(p["TableName"].(string), env.prefix()+"-")
			w, ok := want[name]
			if !ok {
				t.Errorf("%s: unexpected table %s", env.Name, name)
				continue
			}
			seen++
			var got key
			for _, k := range list(p["KeySchema"]) {
				if path(k, "KeyType") == "HASH" {
					got.hash = path(k, "AttributeName").(string)
				} else {
					got.rng = path(k, "AttributeName").(string)
				}
			}
			if got != w.keys {
				t.Errorf("%s/%s: keys %+v, want %+v", env.Name, name, got, w.keys)
			}
			attrs := map[string]string{}
			for _, a := range list(p["AttributeDefinitions"]) {
				attrs[path(a, "AttributeName").(string)] = path(a, "AttributeType").(string)
			}
			if fmt.Sprint(attrs) != fmt.Sprint(w.attrs) {
				t.Errorf("%s/%s: attributes %v, want %v", env.Name, name, attrs, w.attrs)
			}
			if (path(p, "StreamSpecification", "StreamViewType") == "NEW_IMAGE") != w.stream {
				t.Errorf("%s/%s: stream %v", env.Name, name, p["StreamSpecification"])
			}
			if w.ttl != "" && (path(p, "TimeToLiveSpecification", "AttributeName") != w.ttl || path(p, "TimeToLiveSpecification", "Enabled") != true) {
				t.Errorf("%s/%s: TTL %v, want %s", env.Name, name, p["TimeToLiveSpecification"], w.ttl)
			}
			if p["BillingMode"] != "PAY_PER_REQUEST" {
				t.Errorf("%s/%s: billing %v", env.Name, name, p["BillingMode"])
			}
			if path(p, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") != true {
				t.Errorf("%s/%s: no point-in-time recovery", env.Name, name)
			}
			if path(p, "SSESpecification", "SSEEnabled") != true {
				t.Errorf("%s/%s: not encrypted with a KMS key: %v", env.Name, name, p["SSESpecification"])
			}
			if name == "workers" {
				gsis := map[string]string{}
				for _, g := range list(p["GlobalSecondaryIndexes"]) {
					var ks []string
					for _, k := range list(path(g, "KeySchema")) {
						ks = append(ks, path(k, "AttributeName").(string))
					}
					gsis[path(g, "IndexName").(string)] = strings.Join(ks, "+") + "/" + path(g, "Projection", "ProjectionType").(string)
				}
				wantGSI := map[string]string{"byName": "fleet+sortKey/ALL", "byStatus": "status+sortKey/ALL", "byInstance": "instanceId/KEYS_ONLY"}
				if fmt.Sprint(gsis) != fmt.Sprint(wantGSI) {
					t.Errorf("%s/workers: GSIs %v, want %v", env.Name, gsis, wantGSI)
				}
			}
		}
		if seen != len(want) {
			t.Errorf("%s: %d tables, want %d", env.Name, seen, len(want))
		}
	}
}

// TestProdRetainsDataAndDevDoesNot: production keeps every table, the user
// pool, buckets, secrets and logs when a stack or resource goes; dev
// leaves nothing behind.
func TestProdRetainsDataAndDevDoesNot(t *testing.T) {
	s := synth(t)
	stateful := []string{"AWS::DynamoDB::Table", "AWS::Cognito::UserPool", "AWS::S3::Bucket", "AWS::SecretsManager::Secret", "AWS::Logs::LogGroup"}
	for _, env := range s.envs {
		want := "Delete"
		if env.Retain {
			want = "Retain"
		}
		tpl := s.stack(t, env.Name, "stateful")
		for _, typ := range stateful {
			rs := tpl.ofType(typ)
			if len(rs) == 0 {
				t.Errorf("%s: no %s", env.Name, typ)
			}
			for _, r := range rs {
				if r.Raw["DeletionPolicy"] != want || r.Raw["UpdateReplacePolicy"] != want {
					t.Errorf("%s: %s %s DeletionPolicy %v UpdateReplacePolicy %v, want %s", env.Name, typ, r.ID,
						r.Raw["DeletionPolicy"], r.Raw["UpdateReplacePolicy"], want)
				}
			}
		}
		for _, r := range s.stack(t, env.Name, "service").ofType("AWS::Logs::LogGroup") {
			if r.Raw["DeletionPolicy"] != want {
				t.Errorf("%s: log group %s DeletionPolicy %v, want %s", env.Name, r.ID, r.Raw["DeletionPolicy"], want)
			}
		}
		for _, r := range tpl.ofType("AWS::DynamoDB::Table") {
			if r.Properties["DeletionProtectionEnabled"] != env.Retain {
				t.Errorf("%s: table %s deletion protection %v", env.Name, r.ID, r.Properties["DeletionProtectionEnabled"])
			}
		}
		pool := tpl.ofType("AWS::Cognito::UserPool")[0]
		wantProtection := "INACTIVE"
		if env.Retain {
			wantProtection = "ACTIVE"
		}
		if pool.Properties["DeletionProtection"] != wantProtection {
			t.Errorf("%s: user pool deletion protection %v", env.Name, pool.Properties["DeletionProtection"])
		}
		// Dev buckets are emptied on destroy; production's never are.
		if got := len(tpl.ofType("Custom::S3AutoDeleteObjects")); (got > 0) == env.Retain {
			t.Errorf("%s: %d auto-delete custom resources", env.Name, got)
		}
		if env.Retain {
			for _, name := range []string{env.prefix() + "-stateful", env.prefix() + "-service"} {
				if !*s.deployments[env.Name].stackNamed(name).TerminationProtection() {
					t.Errorf("%s: no termination protection", name)
				}
			}
		}
	}
}

func (d *Deployment) stackNamed(name string) interface{ TerminationProtection() *bool } {
	for _, s := range d.Stacks() {
		if *s.StackName() == name {
			return s
		}
	}
	return nil
}

// TestFunctionsAreConfiguredAlike: arm64, provided.al2023, JSON logs into
// their own log group with the environment's retention, X-Ray tracing.
func TestFunctionsAreConfiguredAlike(t *testing.T) {
	s := synth(t)
	for _, env := range s.envs {
		for _, kind := range []string{"stateful", "service"} {
			tpl := s.stack(t, env.Name, kind)
			for _, fn := range tpl.ofType("AWS::Lambda::Function") {
				p := fn.Properties
				if p["Runtime"] != "provided.al2023" {
					continue // CDK's own custom-resource handlers
				}
				if fmt.Sprint(p["Architectures"]) != "[arm64]" || p["Handler"] != "bootstrap" {
					t.Errorf("%s/%s: architectures %v handler %v", env.Name, fn.ID, p["Architectures"], p["Handler"])
				}
				if path(p, "TracingConfig", "Mode") != "Active" {
					t.Errorf("%s/%s: tracing %v", env.Name, fn.ID, p["TracingConfig"])
				}
				if path(p, "LoggingConfig", "LogFormat") != "JSON" {
					t.Errorf("%s/%s: log format %v", env.Name, fn.ID, p["LoggingConfig"])
				}
				lg := strings.TrimPrefix(canon(path(p, "LoggingConfig", "LogGroup")), "ref:")
				group, ok := tpl.resources[lg]
				if !ok || group.Type != "AWS::Logs::LogGroup" {
					t.Errorf("%s/%s: log group %s is not its own", env.Name, fn.ID, lg)
					continue
				}
				if got := group.Properties["RetentionInDays"]; got != float64(env.LogRetentionDays) {
					t.Errorf("%s/%s: retention %v, want %d", env.Name, fn.ID, got, env.LogRetentionDays)
				}
				if path(p, "Environment", "Variables", envEnvironment) != env.Name {
					t.Errorf("%s/%s: %s not set", env.Name, fn.ID, envEnvironment)
				}
			}
		}
	}
}

func TestRouteMethods(t *testing.T) {
	s := synth(t)
	for _, env := range s.envs {
		tpl := s.stack(t, env.Name, "service")
		// The resource tree: logical id → full path.
		paths := map[string]string{}
		var resolve func(id string) string
		resolve = func(id string) string {
			if p, ok := paths[id]; ok {
				return p
			}
			r := tpl.resources[id]
			parent := canon(r.Properties["ParentId"])
			prefix := ""
			if strings.HasPrefix(parent, "ref:") {
				prefix = resolve(strings.TrimPrefix(parent, "ref:"))
			}
			paths[id] = prefix + "/" + r.Properties["PathPart"].(string)
			return paths[id]
		}
		fnOfRoute := map[string]string{}
		for name, fns := range functionsByRoute(tpl) {
			fnOfRoute[name] = fns[0].ID
		}
		methods := map[string]resource{}
		for _, m := range tpl.ofType("AWS::ApiGateway::Method") {
			res := strings.TrimPrefix(canon(m.Properties["ResourceId"]), "ref:")
			methods[m.Properties["HttpMethod"].(string)+" "+resolve(res)] = m
		}
		for _, r := range routes.All {
			m, ok := methods[r.Pattern()]
			if !ok {
				t.Errorf("%s: no method for %s", env.Name, r.Pattern())
				continue
			}
			p := m.Properties
			wantAuth := "CUSTOM"
			if r.Access == routes.Public {
				wantAuth = "NONE"
			}
			if p["AuthorizationType"] != wantAuth {
				t.Errorf("%s: %s authorization %v, want %s", env.Name, r.Name, p["AuthorizationType"], wantAuth)
			}
			if wantAuth == "CUSTOM" && !strings.HasPrefix(canon(p["AuthorizerId"]), "ref:RequestAuthorizer") {
				t.Errorf("%s: %s authorizer %v", env.Name, r.Name, p["AuthorizerId"])
			}
			if p["OperationName"] != r.Name || p["RequestValidatorId"] == nil {
				t.Errorf("%s: %s operation %v validator %v", env.Name, r.Name, p["OperationName"], p["RequestValidatorId"])
			}
			for _, param := range r.PathParams() {
				if path(p, "RequestParameters", "method.request.path."+param) != true {
					t.Errorf("%s: %s does not require path parameter %s", env.Name, r.Name, param)
				}
			}
			uri := canon(path(p, "Integration", "Uri"))
			if path(p, "Integration", "Type") != "AWS_PROXY" || !strings.Contains(uri, "getatt:"+fnOfRoute[r.Name]+".Arn") {
				t.Errorf("%s: %s integration %v does not invoke its own function %s", env.Name, r.Name, uri, fnOfRoute[r.Name])
			}
		}
		if len(methods) != len(routes.All) {
			t.Errorf("%s: %d methods for %d routes", env.Name, len(methods), len(routes.All))
		}

		auth := tpl.ofType("AWS::ApiGateway::Authorizer")[0].Properties
		if auth["Type"] != "REQUEST" || auth["IdentitySource"] != "method.request.header.Cookie,method.request.header.Authorization" ||
			auth["AuthorizerResultTtlInSeconds"] != float64(authorizerCacheSeconds) {
			t.Errorf("%s: authorizer %v", env.Name, auth)
		}
		validator := tpl.ofType("AWS::ApiGateway::RequestValidator")[0].Properties
		if validator["ValidateRequestParameters"] != true || validator["ValidateRequestBody"] != true {
			t.Errorf("%s: validator %v", env.Name, validator)
		}
		stage := tpl.ofType("AWS::ApiGateway::Stage")[0].Properties
		ms := list(stage["MethodSettings"])[0]
		if stage["StageName"] != env.Name || stage["TracingEnabled"] != true || path(stage, "AccessLogSetting", "DestinationArn") == nil ||
			path(ms, "ThrottlingRateLimit") != env.APIRateLimit || path(ms, "ThrottlingBurstLimit") != env.APIBurstLimit ||
			path(ms, "LoggingLevel") != "ERROR" || path(ms, "DataTraceEnabled") != false {
			t.Errorf("%s: stage %v", env.Name, stage)
		}
	}
}

func TestWebSocketAPI(t *testing.T) {
	s := synth(t)
	for _, env := range s.envs {
		tpl := s.stack(t, env.Name, "service")
		var keys []string
		for _, r := range tpl.ofType("AWS::ApiGatewayV2::Route") {
			keys = append(keys, r.Properties["RouteKey"].(string))
		}
		sort.Strings(keys)
		if fmt.Sprint(keys) != "[$connect $default $disconnect]" {
			t.Errorf("%s: routes %v", env.Name, keys)
		}
		stage := tpl.ofType("AWS::ApiGatewayV2::Stage")[0].Properties
		if stage["StageName"] != wsStage || path(stage, "AccessLogSettings", "DestinationArn") == nil ||
			path(stage, "DefaultRouteSettings", "ThrottlingRateLimit") != env.APIRateLimit {
			t.Errorf("%s: WebSocket stage %v", env.Name, stage)
		}
	}
}

func TestStreamConsumers(t *testing.T) {
	s := synth(t)
	for _, env := range s.envs {
		tpl := s.stack(t, env.Name, "service")
		consumers := map[string][]string{}
		for _, m := range tpl.ofType("AWS::Lambda::EventSourceMapping") {
			p := m.Properties
			fn := strings.TrimPrefix(canon(p["FunctionName"]), "ref:")
			want := notifierStream
			if strings.HasPrefix(fn, "Projector") {
				want = projectorStream
			}
			if p["BatchSize"] != want.BatchSize || p["BisectBatchOnFunctionError"] != true ||
				fmt.Sprint(p["FunctionResponseTypes"]) != "[ReportBatchItemFailures]" ||
				p["MaximumRetryAttempts"] != want.RetryAttempts || p["MaximumRecordAgeInSeconds"] != want.MaxRecordAge ||
				p["StartingPosition"] != "TRIM_HORIZON" {
				t.Errorf("%s: %s mapping %v", env.Name, m.ID, p)
			}
			dest := strings.TrimSuffix(strings.TrimPrefix(canon(path(p, "DestinationConfig", "OnFailure", "Destination")), "getatt:"), ".Arn")
			if q, ok := tpl.resources[dest]; !ok || q.Type != "AWS::SQS::Queue" {
				t.Errorf("%s: %s on-failure destination %s is not a queue of the stack", env.Name, m.ID, dest)
			}
			src := canon(p["EventSourceArn"])
			consumers[fn[:len(fn)-8]] = append(consumers[fn[:len(fn)-8]], src)
		}
		check := func(fn string, tables ...string) {
			t.Helper()
			got := consumers[fn]
			if len(got) != len(tables) {
				t.Errorf("%s: %s consumes %v, want %v", env.Name, fn, got, tables)
				return
			}
			for _, tbl := range tables {
				ok := false
				for _, g := range got {
					ok = ok || (strings.Contains(g, tbl+"Table") && strings.Contains(g, "StreamArn"))
				}
				if !ok {
					t.Errorf("%s: %s does not consume the %s stream: %v", env.Name, fn, tbl, got)
				}
			}
		}
		check("Projector", "Events")
		check("Notifier", "Workers", "Labs", "Activity")
	}
}

func TestAlarms(t *testing.T) {
	s := synth(t)
	for _, env := range s.envs {
		tpl := s.stack(t, env.Name, "service")
		topic := ""
		for _, r := range tpl.ofType("AWS::SNS::Topic") {
			topic = "ref:" + r.ID
			if r.Properties["KmsMasterKeyId"] == nil {
				t.Errorf("%s: alarm topic not encrypted", env.Name)
			}
		}
		alarmed := map[string]bool{}
		for _, a := range tpl.ofType("AWS::CloudWatch::Alarm") {
			p := a.Properties
			if fmt.Sprint(canonList(p["AlarmActions"])) != "["+topic+"]" {
				t.Errorf("%s: alarm %s actions %v", env.Name, a.ID, p["AlarmActions"])
			}
			key := fmt.Sprint(p["Namespace"], "/", p["MetricName"])
			for _, d := range list(p["Dimensions"]) {
				alarmed[key+"/"+canon(path(d, "Value"))] = true
			}
			for _, m := range list(p["Metrics"]) {
				alarmed[fmt.Sprint(path(m, "MetricStat", "Metric", "Namespace"), "/", path(m, "MetricStat", "Metric", "MetricName"))] = true
			}
		}
		for _, fn := range tpl.ofType("AWS::Lambda::Function") {
			if fn.Properties["Runtime"] == "provided.al2023" && !alarmed["AWS/Lambda/Errors/ref:"+fn.ID] {
				t.Errorf("%s: no errors alarm for %s", env.Name, fn.ID)
			}
		}
		for _, q := range tpl.ofType("AWS::SQS::Queue") {
			if !alarmed["AWS/SQS/ApproximateNumberOfMessagesVisible/"+"getatt:"+q.ID+".QueueName"] {
				t.Errorf("%s: no depth alarm for DLQ %s", env.Name, q.ID)
			}
		}
		for _, fn := range []string{"Projector", "Notifier"} {
			found := false
			for k := range alarmed {
				found = found || (strings.HasPrefix(k, "AWS/Lambda/IteratorAge/ref:"+fn))
			}
			if !found {
				t.Errorf("%s: no iterator-age alarm for %s", env.Name, fn)
			}
		}
		for _, m := range []string{"ExecutionsFailed", "ExecutionsTimedOut", "ExecutionsAborted"} {
			if !alarmed["AWS/States/"+m] {
				t.Errorf("%s: workflow alarm does not watch %s", env.Name, m)
			}
		}
		// The pool's trigger lives in the stateful stack; its alarm here.
		found := false
		for k := range alarmed {
			found = found || (strings.HasPrefix(k, "AWS/Lambda/Errors/out:") && strings.Contains(k, "PreTokenGeneration"))
		}
		if !found {
			t.Errorf("%s: no errors alarm for the pre-token trigger", env.Name)
		}
	}
}

func canonList(v any) []string {
	var out []string
	for _, x := range list(v) {
		out = append(out, canon(x))
	}
	return out
}

// TestStateMachineMatchesWorkflowSpec: the deployed definition is exactly
// what the workflow spec generates, with the task function substituted.
func TestStateMachineMatchesWorkflowSpec(t *testing.T) {
	s := synth(t)
	want, err := provisioningDefinition("${" + taskFunctionSubstitution + "}")
	if err != nil {
		t.Fatal(err)
	}
	spec := provisioningWorkflow()
	for _, env := range s.envs {
		tpl := s.stack(t, env.Name, "service")
		sm := tpl.ofType("AWS::StepFunctions::StateMachine")[0].Properties
		if sm["DefinitionString"] != want {
			t.Errorf("%s: definition differs from the spec's", env.Name)
		}
		if !strings.HasPrefix(canon(path(sm, "DefinitionSubstitutions", taskFunctionSubstitution)), "getatt:Provision") {
			t.Errorf("%s: task function %v", env.Name, sm["DefinitionSubstitutions"])
		}
		var def map[string]any
		json.Unmarshal([]byte(sm["DefinitionString"].(string)), &def)
		if def["TimeoutSeconds"] != float64(seconds(machineTimeout(spec))) {
			t.Errorf("%s: total timeout %v, want %v", env.Name, def["TimeoutSeconds"], machineTimeout(spec))
		}
		// The task function may run as long as the longest one-shot step.
		fn := tpl.resources[strings.TrimSuffix(strings.TrimPrefix(canon(path(sm, "DefinitionSubstitutions", taskFunctionSubstitution)), "getatt:"), ".Arn")]
		if fn.Properties["Timeout"] != taskTimeout(spec).Seconds() {
			t.Errorf("%s: task function timeout %v, want %s", env.Name, fn.Properties["Timeout"], taskTimeout(spec))
		}
		if sm["StateMachineType"] != "STANDARD" || path(sm, "TracingConfiguration", "Enabled") != true ||
			path(sm, "LoggingConfiguration", "Level") != "ALL" {
			t.Errorf("%s: state machine %v", env.Name, sm)
		}
	}
}

func TestEdge(t *testing.T) {
	s := synth(t)
	for _, env := range s.envs {
		tpl := s.stack(t, env.Name, "service")
		d := tpl.ofType("AWS::CloudFront::Distribution")[0].Properties["DistributionConfig"]
		behaviors := map[string]any{}
		for _, b := range list(path(d, "CacheBehaviors")) {
			behaviors[path(b, "PathPattern").(string)] = b
		}
		if behaviors["/api/*"] == nil || behaviors["/ws"] == nil {
			t.Errorf("%s: behaviors %v", env.Name, behaviors)
		}
		if len(list(path(behaviors["/api/*"], "FunctionAssociations"))) != 1 {
			t.Errorf("%s: /api/* lacks the identity-source function", env.Name)
		}
		origins := list(path(d, "Origins"))
		oac := 0
		for _, o := range origins {
			if path(o, "OriginAccessControlId") != nil {
				oac++
			}
		}
		if oac != 1 {
			t.Errorf("%s: %d origins with origin access control", env.Name, oac)
		}
		if env.Domain != "" && (fmt.Sprint(path(d, "Aliases")) != "["+env.Domain+"]" ||
			path(d, "ViewerCertificate", "AcmCertificateArn") != env.CertificateARN ||
			path(d, "ViewerCertificate", "MinimumProtocolVersion") != "TLSv1.2_2021") {
			t.Errorf("%s: domain not served: %v", env.Name, path(d, "ViewerCertificate"))
		}
		h := path(tpl.ofType("AWS::CloudFront::ResponseHeadersPolicy")[0].Properties, "ResponseHeadersPolicyConfig", "SecurityHeadersConfig")
		csp, _ := path(h, "ContentSecurityPolicy", "ContentSecurityPolicy").(string)
		if !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "default-src 'self'") ||
			path(h, "StrictTransportSecurity", "AccessControlMaxAgeSec") == nil || path(h, "FrameOptions", "FrameOption") != "DENY" {
			t.Errorf("%s: security headers %v", env.Name, h)
		}
		// The site bucket admits CloudFront through OAC only.
		pol := ""
		for _, p := range s.stack(t, env.Name, "stateful").ofType("AWS::S3::BucketPolicy") {
			b, _ := json.Marshal(p.Properties)
			pol += string(b)
		}
		if !strings.Contains(pol, "cloudfront.amazonaws.com") || !strings.Contains(pol, "aws:SecureTransport") {
			t.Errorf("%s: bucket policies lack OAC or TLS-only: %s", env.Name, pol)
		}
	}
}

func TestIdentity(t *testing.T) {
	s := synth(t)
	for _, env := range s.envs {
		tpl := s.stack(t, env.Name, "stateful")
		idp := tpl.ofType("AWS::Cognito::UserPoolIdentityProvider")[0].Properties
		if idp["ProviderType"] != "OIDC" || path(idp, "ProviderDetails", "oidc_issuer") != env.Keycloak.IssuerURL ||
			path(idp, "AttributeMapping", "custom:roles") != env.Keycloak.RolesClaim {
			t.Errorf("%s: identity provider %v", env.Name, idp)
		}
		if secret, _ := path(idp, "ProviderDetails", "client_secret").(string); !strings.HasPrefix(secret, "{{resolve:secretsmanager:") {
			t.Errorf("%s: Keycloak client secret is not a dynamic reference", env.Name)
		}
		pool := tpl.ofType("AWS::Cognito::UserPool")[0].Properties
		if path(pool, "LambdaConfig", "PreTokenGenerationConfig", "LambdaVersion") != "V2_0" ||
			path(pool, "AdminCreateUserConfig", "AllowAdminCreateUserOnly") != true {
			t.Errorf("%s: user pool %v", env.Name, pool)
		}
		client := s.stack(t, env.Name, "service").ofType("AWS::Cognito::UserPoolClient")[0].Properties
		if fmt.Sprint(client["SupportedIdentityProviders"]) != "[Keycloak]" || client["GenerateSecret"] != true ||
			!strings.HasSuffix(canon(list(client["CallbackURLs"])[0]), "/api/auth/callback") {
			t.Errorf("%s: app client %v", env.Name, client)
		}
	}
}

func TestForwarders(t *testing.T) {
	s := synth(t)
	for _, env := range s.envs {
		for _, w := range forwarderTargets(env) {
			tpl, ok := s.templates[forwarderStackName(env, w)]
			if !ok {
				t.Errorf("no forwarder for %s", w.Region)
				continue
			}
			if tpl.region != w.Region {
				t.Errorf("%s deployed to %s", tpl.name, tpl.region)
			}
			rule := tpl.ofType("AWS::Events::Rule")[0].Properties
			target := canon(path(list(rule["Targets"])[0], "Arn"))
			if target != fmt.Sprintf("arn:aws:events:%s:%s:event-bus/default", env.Region, env.Account) ||
				fmt.Sprint(path(rule, "EventPattern", "detail-type")) != "[EC2 Instance State-change Notification]" {
				t.Errorf("%s: rule %v", tpl.name, rule)
			}
		}
		// Cross-account worker accounts may put exactly EC2 events on the
		// home bus.
		policies := s.stack(t, env.Name, "service").ofType("AWS::Events::EventBusPolicy")
		want := 0
		for _, w := range env.WorkerRegions {
			if w.CrossAccount(env.Account) {
				want = 1
			}
		}
		if len(policies) != want {
			t.Errorf("%s: %d bus policies, want %d", env.Name, len(policies), want)
		}
	}
}

// TestSynthesisIsOffline: nothing asked AWS for context (no lookups), so
// synthesis needs no credentials.
func TestSynthesisIsOffline(t *testing.T) {
	s := synth(t)
	data, err := os.ReadFile(filepath.Join(s.outdir, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest map[string]any
	if err := json.Unmarshal(data, &manifest); err != nil {
		t.Fatal(err)
	}
	if missing, ok := manifest["missing"]; ok {
		t.Errorf("synthesis needs context lookups: %v", missing)
	}
}
