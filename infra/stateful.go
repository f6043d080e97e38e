package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// Tables are the DynamoDB tables. Their key schemas are what the Go stores
// use (internal/eventstore/dynamo, internal/readmodel/dynamo); a test pins
// them.
type Tables struct {
	Events, Workers, Labs, Activity, Telemetry, Sessions, Connections awsdynamodb.Table
}

// Stateful holds everything that keeps data: tables, the user pool,
// buckets, secrets and the integration bus with its archive. It changes
// rarely, so the service stack can be replaced freely; in production it
// RETAINs its resources.
type Stateful struct {
	Stack  awscdk.Stack
	Tables Tables
	Bus    awsevents.EventBus
	// CMLSecret holds the CML worker API credentials ({"username",
	// "password"}); never put in an environment variable.
	CMLSecret awssecretsmanager.Secret
	Identity  *Identity
	// SiteBucket holds the dashboard files, served through CloudFront.
	SiteBucket awss3.Bucket
	// LogsBucket receives S3 and CloudFront access logs.
	LogsBucket awss3.Bucket
}

func newStateful(scope constructs.Construct, env Environment, assets Assets) *Stateful {
	stack := awscdk.NewStack(scope, jsii.String(env.prefix()+"-stateful"), &awscdk.StackProps{
		Env:                   awsEnv(env.Account, env.Region),
		Description:           jsii.String("CML Cloud Manager (" + env.Name + "): data — tables, user pool, buckets, secrets, event bus"),
		TerminationProtection: jsii.Bool(env.Retain),
	})
	s := &Stateful{Stack: stack}
	s.Tables = newTables(stack, env)

	s.Bus = awsevents.NewEventBus(stack, jsii.String("IntegrationBus"), &awsevents.EventBusProps{
		EventBusName: jsii.String(env.prefix() + "-integration"),
		Description:  jsii.String("Integration events of CML Cloud Manager (source cmlcm)"),
	})
	archive := &awsevents.BaseArchiveProps{
		ArchiveName: jsii.String(env.prefix() + "-integration"),
		Description: jsii.String("Every integration event, for replay"),
		EventPattern: &awsevents.EventPattern{
			Account: jsii.Strings(env.Account),
		},
	}
	if env.EventArchiveDays > 0 {
		archive.Retention = awscdk.Duration_Days(jsii.Number(float64(env.EventArchiveDays)))
	}
	s.Bus.Archive(jsii.String("Archive"), archive)

	s.CMLSecret = awssecretsmanager.NewSecret(stack, jsii.String("CMLCredentials"), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String(secretsPrefix(env) + cmlCredentialsName),
		Description: jsii.String("CML worker API credentials {\"username\",\"password\"}; set the real values after the first deploy (docs/deploy.md)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: jsii.String(`{"username":"admin"}`),
			GenerateStringKey:    jsii.String("password"),
			PasswordLength:       jsii.Number(32),
			ExcludePunctuation:   jsii.Bool(true),
		},
		RemovalPolicy: env.removal(),
	})

	s.LogsBucket, s.SiteBucket = newBuckets(stack, env)
	s.Identity = newIdentity(stack, env, assets)

	awscdk.NewCfnOutput(stack, jsii.String("SiteBucketName"), &awscdk.CfnOutputProps{Value: s.SiteBucket.BucketName()})
	awscdk.NewCfnOutput(stack, jsii.String("CMLSecretArn"), &awscdk.CfnOutputProps{Value: s.CMLSecret.SecretArn()})
	awscdk.NewCfnOutput(stack, jsii.String("UserPoolId"), &awscdk.CfnOutputProps{Value: s.Identity.Pool.UserPoolId()})
	awscdk.NewCfnOutput(stack, jsii.String("CognitoRedirectURI"), &awscdk.CfnOutputProps{
		Description: jsii.String("Add this as a valid redirect URI of the Keycloak client"),
		Value:       jsii.String(s.Identity.idpResponseURL(env)),
	})
	return s
}

func awsEnv(account, region string) *awscdk.Environment {
	return &awscdk.Environment{Account: jsii.String(account), Region: jsii.String(region)}
}

type key struct {
	name string
	typ  awsdynamodb.AttributeType
}

func str(name string) *key { return &key{name, awsdynamodb.AttributeType_STRING} }
func num(name string) *key { return &key{name, awsdynamodb.AttributeType_NUMBER} }

func (k *key) attr() *awsdynamodb.Attribute {
	if k == nil {
		return nil
	}
	return &awsdynamodb.Attribute{Name: jsii.String(k.name), Type: k.typ}
}

type tableSpec struct {
	id, name string
	hash     *key
	rng      *key
	stream   bool   // NEW_IMAGE stream
	ttl      string // TTL attribute
}

func newTables(stack awscdk.Stack, env Environment) Tables {
	build := func(s tableSpec) awsdynamodb.Table {
		props := &awsdynamodb.TableProps{
			TableName:    jsii.String(env.prefix() + "-" + s.name),
			PartitionKey: s.hash.attr(),
			SortKey:      s.rng.attr(),
			BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
			Encryption:   awsdynamodb.TableEncryption_AWS_MANAGED,
			PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: jsii.Bool(true),
				RecoveryPeriodInDays:       jsii.Number(pitrDays(env)),
			},
			DeletionProtection: jsii.Bool(env.Retain),
			RemovalPolicy:      env.removal(),
		}
		if s.stream {
			props.Stream = awsdynamodb.StreamViewType_NEW_IMAGE
		}
		if s.ttl != "" {
			props.TimeToLiveAttribute = jsii.String(s.ttl)
		}
		return awsdynamodb.NewTable(stack, jsii.String(s.id), props)
	}
	t := Tables{
		// The event store: one item per commit, pk = aggregate id, sk =
		// zero-padded version (or "snapshot"). Its stream feeds the projector.
		Events: build(tableSpec{id: "EventsTable", name: "events", hash: str("pk"), rng: str("sk"), stream: true}),
		// Read models; their streams feed the live-update notifier.
		Workers:  build(tableSpec{id: "WorkersTable", name: "workers", hash: str("id"), stream: true}),
		Labs:     build(tableSpec{id: "LabsTable", name: "labs", hash: str("workerId"), rng: str("labId"), stream: true}),
		Activity: build(tableSpec{id: "ActivityTable", name: "activity", hash: str("aggregateId"), rng: num("version"), stream: true}),
		// Metric samples are not event-sourced: TTL ages them out.
		Telemetry:   build(tableSpec{id: "TelemetryTable", name: "telemetry", hash: str("workerId"), rng: str("at"), ttl: "expiresAt"}),
		Sessions:    build(tableSpec{id: "SessionsTable", name: "sessions", hash: str("id"), ttl: "expiresAt"}),
		Connections: build(tableSpec{id: "ConnectionsTable", name: "connections", hash: str("connectionId"), ttl: "expiresAt"}),
	}
	// The queries of internal/readmodel/dynamo: the ordered listing, the
	// listing by status, and the lookup by EC2 instance id (EC2 events).
	t.Workers.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName: jsii.String("byName"), PartitionKey: str("fleet").attr(), SortKey: str("sortKey").attr(),
		ProjectionType: awsdynamodb.ProjectionType_ALL,
	})
	t.Workers.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName: jsii.String("byStatus"), PartitionKey: str("status").attr(), SortKey: str("sortKey").attr(),
		ProjectionType: awsdynamodb.ProjectionType_ALL,
	})
	t.Workers.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName: jsii.String("byInstance"), PartitionKey: str("instanceId").attr(),
		ProjectionType: awsdynamodb.ProjectionType_KEYS_ONLY,
	})
	return t
}

// pitrDays is how far back point-in-time recovery reaches.
func pitrDays(env Environment) float64 {
	if env.Retain {
		return 35
	}
	return 7
}

func newBuckets(stack awscdk.Stack, env Environment) (logs, site awss3.Bucket) {
	// Dev buckets are emptied on destroy (a small custom-resource Lambda),
	// so `cdk destroy` leaves nothing behind; production keeps them.
	autoDelete := jsii.Bool(!env.Retain)
	logs = awss3.NewBucket(stack, jsii.String("LogsBucket"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		Versioned:         jsii.Bool(true),
		// CloudFront standard logs are delivered with an ACL grant.
		ObjectOwnership: awss3.ObjectOwnership_BUCKET_OWNER_PREFERRED,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Expiration:                  awscdk.Duration_Days(jsii.Number(float64(env.LogRetentionDays))),
			NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(1)),
		}},
		RemovalPolicy:     env.removal(),
		AutoDeleteObjects: autoDelete,
	})
	site = awss3.NewBucket(stack, jsii.String("SiteBucket"), &awss3.BucketProps{
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		Encryption:             awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:             jsii.Bool(true),
		Versioned:              jsii.Bool(true),
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("s3/site/"),
		LifecycleRules: &[]*awss3.LifecycleRule{{
			NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(30)),
		}},
		RemovalPolicy:     env.removal(),
		AutoDeleteObjects: autoDelete,
	})
	// CloudFront reads the dashboard through origin access control. The
	// distribution lives in the service stack, which depends on this one, so
	// its id cannot appear here without a cycle: the statement admits any
	// distribution of this account (the files are the public dashboard
	// anyway), the same trade-off CDK makes for OAC key policies.
	site.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudFrontOriginAccessControl"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudfront.amazonaws.com"), nil)},
		Actions:    jsii.Strings("s3:GetObject"),
		Resources:  &[]*string{site.ArnForObjects(jsii.String("*"))},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"AWS:SourceAccount": env.Account},
			"ArnLike":      map[string]any{"AWS:SourceArn": fmt.Sprintf("arn:aws:cloudfront::%s:distribution/*", env.Account)},
		},
	}))
	return logs, site
}
