package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/cmlcm/cmlcm/internal/routes"
)

// wsStage is the WebSocket API's stage. It is also the path CloudFront
// routes to the WebSocket API (/ws), so the browser connects to
// wss://<public host>/ws with its first-party session cookie.
const wsStage = "ws"

const wsAccessLogFormat = `{"requestId":"$context.requestId","connectionId":"$context.connectionId",` +
	`"eventType":"$context.eventType","routeKey":"$context.routeKey","status":"$context.status",` +
	`"ip":"$context.identity.sourceIp","integrationLatency":"$context.integrationLatency",` +
	`"error":"$context.error.message"}`

// webSocketAPI is the live-update API: $connect, $disconnect and $default,
// all served by the ws function.
type webSocketAPI struct {
	API   awsapigatewayv2.WebSocketApi
	Stage awsapigatewayv2.WebSocketStage
}

func newWebSocketAPI(stack awscdk.Stack, env Environment) *webSocketAPI {
	api := awsapigatewayv2.NewWebSocketApi(stack, jsii.String("WebSocketApi"), &awsapigatewayv2.WebSocketApiProps{
		ApiName:     jsii.String(env.prefix() + "-live"),
		Description: jsii.String("CML Cloud Manager live updates (" + env.Name + ")"),
	})
	stage := awsapigatewayv2.NewWebSocketStage(stack, jsii.String("WebSocketStage"), &awsapigatewayv2.WebSocketStageProps{
		WebSocketApi: api,
		StageName:    jsii.String(wsStage),
		AutoDeploy:   jsii.Bool(true),
		Throttle: &awsapigatewayv2.ThrottleSettings{
			RateLimit: jsii.Number(env.APIRateLimit), BurstLimit: jsii.Number(env.APIBurstLimit),
		},
	})
	logs := awslogs.NewLogGroup(stack, jsii.String("WebSocketAccessLogs"), &awslogs.LogGroupProps{
		Retention: retentionDays(env.LogRetentionDays), RemovalPolicy: env.removal(),
	})
	cfn := stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfn.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: logs.LogGroupArn(),
		Format:         jsii.String(wsAccessLogFormat),
	})
	cfn.SetDefaultRouteSettings(&awsapigatewayv2.CfnStage_RouteSettingsProperty{
		LoggingLevel:           jsii.String("ERROR"),
		DataTraceEnabled:       jsii.Bool(false),
		DetailedMetricsEnabled: jsii.Bool(true),
		ThrottlingRateLimit:    jsii.Number(env.APIRateLimit),
		ThrottlingBurstLimit:   jsii.Number(env.APIBurstLimit),
	})
	return &webSocketAPI{API: api, Stage: stage}
}

// manageARN is the execute-api ARN prefix of the stage's @connections API.
func (w *webSocketAPI) manageARN(env Environment) string {
	return fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s", env.Region, env.Account, *w.API.ApiId(), wsStage)
}

// managementEndpoint is where the notifier posts to connections.
func (w *webSocketAPI) managementEndpoint(env Environment) string {
	return fmt.Sprintf("https://%s.execute-api.%s.amazonaws.com/%s", *w.API.ApiId(), env.Region, wsStage)
}

func (w *webSocketAPI) domain(env Environment) string {
	return fmt.Sprintf("%s.execute-api.%s.amazonaws.com", *w.API.ApiId(), env.Region)
}

// addWebSocketHandler creates the ws function and routes all three route
// keys to it. $connect authenticates the cookie or token itself (the same
// verifier as the authorizer) and stores the connection.
func (s *Service) addWebSocketHandler() {
	fn := s.fns.function(s.Stack, fnSpec{
		ID: "WebSocket", Binary: fnWS, Timeout: 10,
		Description: "WebSocket $connect/$disconnect/$default: authenticate, store and drop connections, subscriptions",
		Groups:      []string{grpConnections, routes.Sessions, grpWSManage, routes.ReadWorkers},
	})
	for _, key := range []string{"$connect", "$disconnect", "$default"} {
		s.ws.API.AddRoute(jsii.String(key), &awsapigatewayv2.WebSocketRouteOptions{
			Integration: awsapigatewayv2integrations.NewWebSocketLambdaIntegration(jsii.String("WS"+routeKeyID(key)), fn, nil),
		})
	}
}

func routeKeyID(key string) string {
	switch key {
	case "$connect":
		return "Connect"
	case "$disconnect":
		return "Disconnect"
	}
	return "Default"
}
