package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/cmlcm/cmlcm/internal/routes"
)

// authorizerCacheSeconds bounds how long a signed-out session or revoked
// token keeps working: API Gateway reuses an authorizer decision for this
// long per (Cookie, Authorization) pair.
const authorizerCacheSeconds = 60

// The identity sources of the REQUEST authorizer. API Gateway refuses a
// request without calling a cached authorizer when any of them is missing;
// the CloudFront function in edge.go fills the absent one with an inert
// value (browsers send only the cookie, scripts only the bearer token).
var authorizerIdentityHeaders = []string{"Cookie", "Authorization"}

// restAccessLogFormat is one JSON object per request.
const restAccessLogFormat = `{"requestId":"$context.requestId","extendedRequestId":"$context.extendedRequestId",` +
	`"ip":"$context.identity.sourceIp","userAgent":"$context.identity.userAgent","method":"$context.httpMethod",` +
	`"path":"$context.path","resource":"$context.resourcePath","status":"$context.status",` +
	`"responseLength":"$context.responseLength","latency":"$context.responseLatency",` +
	`"integrationLatency":"$context.integration.latency","integrationError":"$context.integration.error",` +
	`"authorizerStatus":"$context.authorizer.status","authorizerLatency":"$context.authorizer.latency",` +
	`"authorizerError":"$context.authorizer.error","principal":"$context.authorizer.principalId",` +
	`"error":"$context.error.message","xrayTraceId":"$context.xrayTraceId"}`

// restAPI is the REST API: one method per route of the route table.
type restAPI struct {
	API        awsapigateway.RestApi
	authorizer awsapigateway.RequestAuthorizer
	validator  awsapigateway.RequestValidator
}

func newRestAPI(stack awscdk.Stack, env Environment) *restAPI {
	accessLogs := awslogs.NewLogGroup(stack, jsii.String("RestApiAccessLogs"), &awslogs.LogGroupProps{
		Retention: retentionDays(env.LogRetentionDays), RemovalPolicy: env.removal(),
	})
	api := awsapigateway.NewRestApi(stack, jsii.String("RestApi"), &awsapigateway.RestApiProps{
		RestApiName:   jsii.String(env.prefix() + "-api"),
		Description:   jsii.String("CML Cloud Manager API (" + env.Name + "), generated from the route table"),
		EndpointTypes: &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL},
		// Execution and access logging need the account's API Gateway
		// CloudWatch role; CDK sets it (one per account and region).
		CloudWatchRole:              jsii.Bool(true),
		CloudWatchRoleRemovalPolicy: awscdk.RemovalPolicy_RETAIN,
		// Lab topology uploads may be multipart.
		BinaryMediaTypes: jsii.Strings("multipart/form-data"),
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            jsii.String(env.Name),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(accessLogs),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(jsii.String(restAccessLogFormat)),
			// ERROR, and never request/response bodies: they can carry
			// license tokens and lab topologies.
			LoggingLevel:     awsapigateway.MethodLoggingLevel_ERROR,
			DataTraceEnabled: jsii.Bool(false),
			MetricsEnabled:   jsii.Bool(true),
			TracingEnabled:   jsii.Bool(true),
			// Throttling applies to every method of the stage.
			ThrottlingRateLimit:  jsii.Number(env.APIRateLimit),
			ThrottlingBurstLimit: jsii.Number(env.APIBurstLimit),
		},
	})
	validator := api.AddRequestValidator(jsii.String("Validator"), &awsapigateway.RequestValidatorOptions{
		RequestValidatorName:      jsii.String("params-and-body"),
		ValidateRequestParameters: jsii.Bool(true),
		ValidateRequestBody:       jsii.Bool(true),
	})
	return &restAPI{API: api, validator: validator}
}

func (a *restAPI) setAuthorizer(stack awscdk.Stack, fn awslambda.Function) {
	var sources []*string
	for _, h := range authorizerIdentityHeaders {
		sources = append(sources, awsapigateway.IdentitySource_Header(jsii.String(h)))
	}
	a.authorizer = awsapigateway.NewRequestAuthorizer(stack, jsii.String("RequestAuthorizer"), &awsapigateway.RequestAuthorizerProps{
		Handler:         fn,
		AuthorizerName:  jsii.String("session-or-bearer"),
		IdentitySources: &sources,
		ResultsCacheTtl: awscdk.Duration_Seconds(jsii.Number(authorizerCacheSeconds)),
	})
}

// addRoute adds the route's method, integrated with its own function.
// Public routes have no authorizer; all others use the REQUEST authorizer
// (roles are checked by the handler, the same code as the local router).
func (a *restAPI) addRoute(r routes.Route, fn awslambda.Function) {
	params := map[string]*bool{}
	for _, p := range r.PathParams() {
		params["method.request.path."+p] = jsii.Bool(true)
	}
	opts := &awsapigateway.MethodOptions{
		OperationName:     jsii.String(r.Name),
		RequestParameters: &params,
		RequestValidator:  a.validator,
	}
	if r.Access == routes.Public {
		opts.AuthorizationType = awsapigateway.AuthorizationType_NONE
	} else {
		opts.AuthorizationType = awsapigateway.AuthorizationType_CUSTOM
		opts.Authorizer = a.authorizer
	}
	integration := awsapigateway.NewLambdaIntegration(fn, &awsapigateway.LambdaIntegrationOptions{
		Proxy: jsii.Bool(true),
		// One permission per method (the deployed stage), not two: the
		// console's test-invoke is not worth 33 more resources.
		AllowTestInvoke: jsii.Bool(false),
	})
	a.API.Root().ResourceForPath(jsii.String(r.Path)).AddMethod(jsii.String(r.Method), integration, opts)
}

// domain is the REST API's execute-api host name, built from its id only:
// the distribution in front of it must not depend on the deployment stage,
// which depends on every method and so on every function.
func (a *restAPI) domain(env Environment) string {
	return fmt.Sprintf("%s.execute-api.%s.amazonaws.com", *a.API.RestApiId(), env.Region)
}
