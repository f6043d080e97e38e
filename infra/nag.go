package main

import (
	"regexp"

	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/cmlcm/cmlcm/internal/routes"
)

// Reasons for the AwsSolutions findings we accept. Every suppression
// carries one; everything else cdk-nag reports is an error.
const (
	reasonUnscopableActions = "Only actions without resource-level permissions use Resource *: X-Ray PutTraceSegments/PutTelemetryRecords " +
		"(Lambda and Step Functions tracing), CloudWatch Logs delivery setup (Step Functions logging), EC2 Describe* (limited to the " +
		"worker regions with aws:RequestedRegion) and CloudWatch GetMetricData. A test (TestWildcardResourcesOnlyForUnscopableActions) " +
		"fails if any other action gets Resource *."
	reasonGSIs         = "Queries on the workers table's own GSIs (byName, byStatus, byInstance): index ARNs are table/<name>/index/<index>."
	reasonTaskVersions = "lambda:invoke may name a version or alias of the provisioning task function: only that function's qualifiers."
	reasonInstances    = "Instance ids are not known in advance; every action on them is conditioned on aws:ResourceTag/cmlcm:managed = true (RunInstances on aws:RequestTag/cmlcm:managed = true)."
	reasonLaunchParts  = "RunInstances creates the instance's volumes and network interfaces (tagged only during RunInstances: ec2:CreateAction) and uses the AMI and key pair chosen at run time by the fleet settings; subnets/security groups are wildcards only in regions whose configuration lists none."
	reasonConnections  = "WebSocket connection ids are created at run time; the resource is this API's own stage's @connections."
	reasonSecrets      = "Secrets created at run time under this environment's prefix: one per worker's license token (cmlcm/<env>/license-token/<worker>) and per-worker CML credential overrides (cmlcm/<env>/cml-credentials/<worker>)."
)

// suppress records the accepted findings of a deployment's stacks.
func suppress(d *Deployment) {
	env := d.Env
	stateful, service := d.Stateful.Stack, d.Service.Stack

	iam5 := []*cdknag.NagPackSuppression{
		nagRule("AwsSolutions-IAM5", reasonUnscopableActions, "Resource::*"),
		nagRule("AwsSolutions-IAM5", reasonGSIs, regex(`^Resource::<WorkersTable[0-9A-F]+\.Arn>/index/\*$`)),
		nagRule("AwsSolutions-IAM5", reasonTaskVersions, regex(`^Resource::<Provision[0-9A-F]+\.Arn>:\*$`)),
		nagRule("AwsSolutions-IAM5", reasonInstances, regex(`^Resource::arn:aws:ec2:[a-z0-9-]+:\d{12}:instance/\*$`)),
		nagRule("AwsSolutions-IAM5", reasonLaunchParts,
			regex(`^Resource::arn:aws:ec2:[a-z0-9-]+:\d{12}:(volume|network-interface|subnet|security-group|key-pair)/\*$`),
			regex(`^Resource::arn:aws:ec2:[a-z0-9-]+::image/\*$`)),
		nagRule("AwsSolutions-IAM5", reasonConnections, regex(`^Resource::arn:aws:execute-api:[a-z0-9-]+:\d{12}:<WebSocketApi[0-9A-F]+>/`+wsStage+`/\*/@connections/\*$`)),
		nagRule("AwsSolutions-IAM5", reasonSecrets,
			"Resource::"+(&Permissions{env: env}).secretARN(licenseTokenPrefix+"*"),
			"Resource::"+(&Permissions{env: env}).secretARN(cmlCredentialsName+"/*")),
	}
	cdknag.NagSuppressions_AddStackSuppressions(stateful, &iam5, nil)
	cdknag.NagSuppressions_AddStackSuppressions(service, &iam5, nil)

	// Stateful stack.
	cdknag.NagSuppressions_AddResourceSuppressions(d.Stateful.CMLSecret, &[]*cdknag.NagPackSuppression{
		nagRule("AwsSolutions-SMG4", "The CML worker credentials are the CML controllers' own admin account; they change when the operator changes them on the workers (docs/deploy.md), no rotation Lambda can do that."),
	}, nil)
	cdknag.NagSuppressions_AddResourceSuppressions(d.Stateful.Identity.Pool, &[]*cdknag.NagPackSuppression{
		nagRule("AwsSolutions-COG2", "Nobody signs in to the pool itself: the only identity provider is Keycloak, which enforces the organisation's MFA policy."),
		nagRule("AwsSolutions-COG8", "Plus-plan threat protection guards pool passwords; there are none (federated sign-in only) and Keycloak does brute-force detection."),
	}, nil)
	cdknag.NagSuppressions_AddResourceSuppressions(d.Stateful.LogsBucket, &[]*cdknag.NagPackSuppression{
		nagRule("AwsSolutions-S1", "This is the access-log bucket; logging it into itself would loop."),
	}, nil)

	// Service stack.
	cdknag.NagSuppressions_AddResourceSuppressions(d.Service.login.Secret, &[]*cdknag.NagPackSuppression{
		nagRule("AwsSolutions-SMG4", "The value is the Cognito app client's secret, copied by CloudFormation; it changes only with the app client (rotate by replacing the client)."),
	}, nil)
	for id, q := range d.Service.dlqs {
		cdknag.NagSuppressions_AddResourceSuppressions(q, &[]*cdknag.NagPackSuppression{
			nagRule("AwsSolutions-SQS3", id+" is itself a dead-letter queue (stream on-failure destination or EventBridge target DLQ), alarmed on depth."),
		}, nil)
	}
	for _, f := range d.Forwarders {
		cdknag.NagSuppressions_AddStackSuppressions(f, &[]*cdknag.NagPackSuppression{
			nagRule("AwsSolutions-SQS3", "ForwardDLQ is itself the dead-letter queue of the forwarding rule's target."),
		}, nil)
	}
	cdknag.NagSuppressions_AddResourceSuppressions(d.Service.api.API, &[]*cdknag.NagPackSuppression{
		nagRule("AwsSolutions-IAM4", "API Gateway's account-level CloudWatch role uses the AWS-managed AmazonAPIGatewayPushToCloudWatchLogs policy, the documented way to enable execution and access logging.",
			"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"),
		nagRule("AwsSolutions-COG4", "Every non-public method uses the REQUEST authorizer (session cookie or bearer JWT, Cognito or Keycloak issued), not a Cognito user-pool authorizer: it must accept server-side sessions too."),
		nagRule("AwsSolutions-APIG3", "The API is reached through CloudFront (WAF attaches there, webACLARN in the environment); stage throttling limits abuse."),
	}, jsii.Bool(true))
	for _, r := range routes.All {
		if r.Access != routes.Public {
			continue
		}
		cdknag.NagSuppressions_AddResourceSuppressionsByPath(service,
			jsii.String("/"+*service.StackName()+"/RestApi/Default"+r.Path+"/"+r.Method+"/Resource"),
			&[]*cdknag.NagPackSuppression{
				nagRule("AwsSolutions-APIG4", "Public by the route table ("+r.Name+"): health, API docs and the OIDC login/callback must work before sign-in."),
			}, nil)
	}
	for _, key := range []string{"$connect", "$disconnect", "$default"} {
		cdknag.NagSuppressions_AddResourceSuppressionsByPath(service,
			jsii.String("/"+*service.StackName()+"/WebSocketApi/"+key+"-Route/Resource"),
			&[]*cdknag.NagPackSuppression{
				nagRule("AwsSolutions-APIG4", "The ws function authenticates $connect itself (session cookie or bearer token, the authorizer's verifier) and refuses the connection otherwise; "+
					"$disconnect and $default exist only on connections $connect accepted."),
			}, nil)
	}
	dist := []*cdknag.NagPackSuppression{
		nagRule("AwsSolutions-CFR1", "The fleet's users are wherever the organisation is; access is controlled by sign-in, not by country."),
	}
	if env.WebACLARN == "" {
		dist = append(dist, nagRule("AwsSolutions-CFR2", "No web ACL configured for this environment (webACLARN); API throttling and the authorizer guard the API. Set webACLARN to attach one."))
	}
	if env.Domain == "" {
		dist = append(dist, nagRule("AwsSolutions-CFR4", "Without a custom domain CloudFront serves its default *.cloudfront.net certificate, whose TLS policy cannot be chosen; configure domain and certificateARN for TLSv1.2_2021."))
	}
	cdknag.NagSuppressions_AddResourceSuppressions(d.Service.edge.Distribution, &dist, nil)
	if deployment := service.Node().TryFindChild(jsii.String("Custom::CDKBucketDeployment8693BB64968944B69AAFB0CC9EB8756C512MiB")); deployment != nil {
		cdknag.NagSuppressions_AddResourceSuppressions(deployment, &[]*cdknag.NagPackSuppression{
			nagRule("AwsSolutions-IAM4", "CDK's BucketDeployment handler (deploy-time only) uses AWSLambdaBasicExecutionRole for its logs."),
			nagRule("AwsSolutions-IAM5", "CDK's BucketDeployment handler copies the dashboard from the CDK asset bucket to the site bucket (object wildcards of those two buckets) and invalidates the distribution."),
			nagRule("AwsSolutions-L1", "CDK's BucketDeployment handler runtime is chosen by aws-cdk-lib, pinned with it."),
		}, jsii.Bool(true))
	}
}

// regex is a cdk-nag appliesTo pattern.
func regex(re string) any {
	regexp.MustCompile(re) // fail early on a typo
	return map[string]any{"regex": "/" + re + "/g"}
}

func nagRule(id, reason string, appliesTo ...any) *cdknag.NagPackSuppression {
	s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		s.AppliesTo = &appliesTo
	}
	return s
}
