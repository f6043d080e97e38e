package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscertificatemanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfront"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudfrontorigins"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3deployment"
	"github.com/aws/jsii-runtime-go"
)

// edge is the CloudFront distribution: the dashboard from S3, and /api/*
// and /ws routed to the REST and WebSocket APIs through the same host, so
// the session cookie is first-party and no CORS is needed.
type edge struct {
	Distribution awscloudfront.Distribution
	site         awss3.IBucket
	// publicURL is https://<domain or distribution host>, no trailing slash.
	publicURL string
}

// fillIdentitySources runs on every /api/* request (see
// authorizerIdentityHeaders): API Gateway answers 401 without calling a
// cached REQUEST authorizer when the Cookie or the Authorization header is
// missing, yet browsers send only the session cookie and scripts only a
// bearer token. The absent one gets an inert value the authorizer ignores.
const fillIdentitySources = `function handler(event) {
  var r = event.request;
  if (!r.headers.authorization) {
    r.headers.authorization = { value: 'None' };
  }
  if (Object.keys(r.cookies).length === 0) {
    r.cookies['cmlcm-anonymous'] = { value: '1' };
  }
  return r;
}`

// spaRewrite serves index.html for the dashboard's client-side routes
// (paths without a file extension). Distribution-wide error responses
// would also rewrite the API's 404s, so this is a function on the default
// behavior only.
const spaRewrite = `function handler(event) {
  var r = event.request;
  var last = r.uri.split('/').pop();
  if (last.indexOf('.') === -1) {
    r.uri = '/index.html';
  }
  return r;
}`

func newEdge(stack awscdk.Stack, env Environment, st *Stateful, api *restAPI, ws *webSocketAPI) *edge {
	// An imported reference: with the bucket object itself CDK would write
	// the distribution's id into the stateful stack's bucket policy, a
	// dependency cycle. The stateful stack grants OAC access instead.
	site := awss3.Bucket_FromBucketAttributes(stack, jsii.String("Site"), &awss3.BucketAttributes{
		BucketName:               st.SiteBucket.BucketName(),
		BucketArn:                st.SiteBucket.BucketArn(),
		BucketRegionalDomainName: st.SiteBucket.BucketRegionalDomainName(),
	})
	logs := awss3.Bucket_FromBucketAttributes(stack, jsii.String("Logs"), &awss3.BucketAttributes{
		BucketName:       st.LogsBucket.BucketName(),
		BucketArn:        st.LogsBucket.BucketArn(),
		BucketDomainName: st.LogsBucket.BucketDomainName(),
	})

	headers := awscloudfront.NewResponseHeadersPolicy(stack, jsii.String("SecurityHeaders"), &awscloudfront.ResponseHeadersPolicyProps{
		ResponseHeadersPolicyName: jsii.String(env.prefix() + "-security-headers"),
		Comment:                   jsii.String("CSP, HSTS, no framing"),
		SecurityHeadersBehavior: &awscloudfront.ResponseSecurityHeadersBehavior{
			ContentSecurityPolicy: &awscloudfront.ResponseHeadersContentSecurityPolicy{
				ContentSecurityPolicy: jsii.String(contentSecurityPolicy(env)), Override: jsii.Bool(true),
			},
			StrictTransportSecurity: &awscloudfront.ResponseHeadersStrictTransportSecurity{
				AccessControlMaxAge: awscdk.Duration_Days(jsii.Number(730)),
				IncludeSubdomains:   jsii.Bool(true), Override: jsii.Bool(true),
			},
			FrameOptions:       &awscloudfront.ResponseHeadersFrameOptions{FrameOption: awscloudfront.HeadersFrameOption_DENY, Override: jsii.Bool(true)},
			ContentTypeOptions: &awscloudfront.ResponseHeadersContentTypeOptions{Override: jsii.Bool(true)},
			ReferrerPolicy: &awscloudfront.ResponseHeadersReferrerPolicy{
				ReferrerPolicy: awscloudfront.HeadersReferrerPolicy_STRICT_ORIGIN_WHEN_CROSS_ORIGIN, Override: jsii.Bool(true),
			},
		},
	})
	fill := awscloudfront.NewFunction(stack, jsii.String("FillIdentitySources"), &awscloudfront.FunctionProps{
		Code:    awscloudfront.FunctionCode_FromInline(jsii.String(fillIdentitySources)),
		Runtime: awscloudfront.FunctionRuntime_JS_2_0(),
		Comment: jsii.String("Give the API authorizer both identity sources"),
	})
	spa := awscloudfront.NewFunction(stack, jsii.String("SpaRewrite"), &awscloudfront.FunctionProps{
		Code:    awscloudfront.FunctionCode_FromInline(jsii.String(spaRewrite)),
		Runtime: awscloudfront.FunctionRuntime_JS_2_0(),
		Comment: jsii.String("Serve index.html for dashboard routes"),
	})

	tls := &[]awscloudfront.OriginSslPolicy{awscloudfront.OriginSslPolicy_TLS_V1_2}
	apiBehavior := &awscloudfront.BehaviorOptions{
		Origin: awscloudfrontorigins.NewHttpOrigin(jsii.String(api.domain(env)), &awscloudfrontorigins.HttpOriginProps{
			OriginPath: jsii.String("/" + env.Name), ProtocolPolicy: awscloudfront.OriginProtocolPolicy_HTTPS_ONLY, OriginSslProtocols: tls,
		}),
		ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_HTTPS_ONLY,
		AllowedMethods:        awscloudfront.AllowedMethods_ALLOW_ALL(),
		CachePolicy:           awscloudfront.CachePolicy_CACHING_DISABLED(),
		OriginRequestPolicy:   awscloudfront.OriginRequestPolicy_ALL_VIEWER_EXCEPT_HOST_HEADER(),
		ResponseHeadersPolicy: headers,
		FunctionAssociations: &[]*awscloudfront.FunctionAssociation{{
			EventType: awscloudfront.FunctionEventType_VIEWER_REQUEST, Function: fill,
		}},
	}
	wsBehavior := &awscloudfront.BehaviorOptions{
		Origin: awscloudfrontorigins.NewHttpOrigin(jsii.String(ws.domain(env)), &awscloudfrontorigins.HttpOriginProps{
			ProtocolPolicy: awscloudfront.OriginProtocolPolicy_HTTPS_ONLY, OriginSslProtocols: tls,
		}),
		ViewerProtocolPolicy: awscloudfront.ViewerProtocolPolicy_HTTPS_ONLY,
		AllowedMethods:       awscloudfront.AllowedMethods_ALLOW_GET_HEAD_OPTIONS(),
		CachePolicy:          awscloudfront.CachePolicy_CACHING_DISABLED(),
		OriginRequestPolicy:  awscloudfront.OriginRequestPolicy_ALL_VIEWER_EXCEPT_HOST_HEADER(),
	}
	props := &awscloudfront.DistributionProps{
		Comment:           jsii.String("CML Cloud Manager (" + env.Name + ")"),
		DefaultRootObject: jsii.String("index.html"),
		DefaultBehavior: &awscloudfront.BehaviorOptions{
			Origin:                awscloudfrontorigins.S3BucketOrigin_WithOriginAccessControl(site, nil),
			ViewerProtocolPolicy:  awscloudfront.ViewerProtocolPolicy_REDIRECT_TO_HTTPS,
			CachePolicy:           awscloudfront.CachePolicy_CACHING_OPTIMIZED(),
			ResponseHeadersPolicy: headers,
			Compress:              jsii.Bool(true),
			FunctionAssociations: &[]*awscloudfront.FunctionAssociation{{
				EventType: awscloudfront.FunctionEventType_VIEWER_REQUEST, Function: spa,
			}},
		},
		AdditionalBehaviors: &map[string]*awscloudfront.BehaviorOptions{
			"/api/*":      apiBehavior,
			"/" + wsStage: wsBehavior,
		},
		HttpVersion:   awscloudfront.HttpVersion_HTTP2_AND_3,
		PriceClass:    awscloudfront.PriceClass_PRICE_CLASS_100,
		EnableLogging: jsii.Bool(true),
		LogBucket:     logs,
		LogFilePrefix: jsii.String("cloudfront/"),
	}
	if env.Domain != "" {
		props.DomainNames = jsii.Strings(env.Domain)
		props.Certificate = awscertificatemanager.Certificate_FromCertificateArn(stack, jsii.String("Certificate"), jsii.String(env.CertificateARN))
		props.MinimumProtocolVersion = awscloudfront.SecurityPolicyProtocol_TLS_V1_2_2021
	}
	if env.WebACLARN != "" {
		props.WebAclId = jsii.String(env.WebACLARN)
	}
	dist := awscloudfront.NewDistribution(stack, jsii.String("Distribution"), props)
	// Expected, see above: the stateful stack's bucket policy admits this
	// distribution through origin access control.
	awscdk.Annotations_Of(dist).AcknowledgeWarning(jsii.String("@aws-cdk/aws-cloudfront-origins:updateImportedBucketPolicyOac"),
		jsii.String("the stateful stack's site bucket policy grants CloudFront OAC access"))

	e := &edge{Distribution: dist, site: site}
	if env.Domain != "" {
		e.publicURL = "https://" + env.Domain
	} else {
		e.publicURL = "https://" + *dist.DistributionDomainName()
	}
	return e
}

// contentSecurityPolicy allows the dashboard's own origin only, plus the
// sign-in pages the login flow navigates to.
func contentSecurityPolicy(env Environment) string {
	cognito := "https://" + env.CognitoDomainPrefix + ".auth." + env.Region + ".amazoncognito.com"
	keycloak := env.Keycloak.IssuerURL
	if i := strings.Index(keycloak[len("https://"):], "/"); i >= 0 {
		keycloak = keycloak[:len("https://")+i]
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src 'self'",
		"style-src 'self'",
		"img-src 'self' data:",
		"font-src 'self'",
		"connect-src 'self'",
		"object-src 'none'",
		"base-uri 'self'",
		"form-action 'self' " + cognito + " " + keycloak,
		"frame-ancestors 'none'",
		"upgrade-insecure-requests",
	}, "; ")
}

// deployDashboard uploads the built dashboard (web/dist) at deploy time and
// invalidates the distribution. Without built files it uploads nothing:
// the infrastructure still deploys, and the next deploy after `npm run
// build` publishes them.
func (e *edge) deployDashboard(stack awscdk.Stack, env Environment, assets Assets) {
	if !assets.HasDashboard() {
		return
	}
	logs := awslogs.NewLogGroup(stack, jsii.String("DashboardFilesLogs"), &awslogs.LogGroupProps{
		Retention: retentionDays(env.LogRetentionDays), RemovalPolicy: env.removal(),
	})
	awss3deployment.NewBucketDeployment(stack, jsii.String("DashboardFiles"), &awss3deployment.BucketDeploymentProps{
		LogGroup:          logs,
		Sources:           &[]awss3deployment.ISource{awss3deployment.Source_Asset(jsii.String(assets.DashboardDir), nil)},
		DestinationBucket: e.site,
		Distribution:      e.Distribution,
		DistributionPaths: jsii.Strings("/*"),
		Prune:             jsii.Bool(true),
		MemoryLimit:       jsii.Number(512),
	})
}
