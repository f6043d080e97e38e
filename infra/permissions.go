package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/jsii-runtime-go"

	"github.com/cmlcm/cmlcm/internal/routes"
)

// Permission groups used by the non-route functions only. The route table's
// groups (routes.ReadWorkers, ...) are the others.
const (
	grpReadModelsWrite = "readmodels:write" // projector: write the read models
	grpTelemetryWrite  = "telemetry:write"  // tick: write metric samples
	grpConnections     = "connections:rw"   // ws, notifier: the connections table
	grpWSManage        = "ws:manage"        // ws, notifier: post to / drop WebSocket connections
	// grpEC2Adopt tags an existing, not yet managed instance with our
	// managed tags (import). The route table does not declare it yet:
	// importWorkers needs it (see the report); until then the import's
	// tagging is refused and logged.
	grpEC2Adopt = "ec2:adopt"
)

// managedTagKeys are the tags that make an instance ours (internal/cloud).
var managedTagKeys = []string{"cmlcm:managed", "cmlcm:worker-id", "cmlcm:environment"}

// managedTag marks the EC2 instances the product manages. Every EC2 action
// but Describe is conditioned on it.
const managedTag = "cmlcm:managed"

// settingsAggregate is the fleet settings' aggregate id
// (internal/settings.ID): settings:read may read only its items.
const settingsAggregate = "fleet-settings"

// Permissions turns permission groups into least-privilege IAM statements
// on the environment's resources. Resources are filled in as the stacks
// create them; asking for a group whose resource does not exist yet is a
// programming error and panics at synthesis.
type Permissions struct {
	env Environment

	tables          *Tables
	busARN          string
	cmlSecretARN    string
	oidcSecretARN   string
	stateMachineARN string
	automationARN   string
	wsManageARN     string // arn:...:execute-api:region:account:api-id/stage
}

// Statements returns the statements of the groups, in group order,
// each group once.
func (p *Permissions) Statements(groups []string) []awsiam.PolicyStatement {
	var out []awsiam.PolicyStatement
	seen := map[string]bool{}
	for _, g := range groups {
		if seen[g] {
			continue
		}
		seen[g] = true
		out = append(out, p.group(g)...)
	}
	return out
}

func (p *Permissions) need(group, what, v string) string {
	if v == "" {
		panic(fmt.Sprintf("permission group %s needs %s, which is not created yet", group, what))
	}
	return v
}

func stmt(sid string, actions []string, resources []string, conditions map[string]any) awsiam.PolicyStatement {
	props := &awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(resources...),
	}
	if conditions != nil {
		props.Conditions = &conditions
	}
	return awsiam.NewPolicyStatement(props)
}

// Table actions by intent.
var (
	ddbRead  = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
	ddbWrite = []string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
)

func (p *Permissions) group(g string) []awsiam.PolicyStatement {
	t := p.tables
	if t == nil && (strings.Contains(g, "workers") || strings.Contains(g, "events") || strings.Contains(g, "telemetry") ||
		strings.Contains(g, "sessions") || strings.Contains(g, "settings") || strings.Contains(g, "readmodels") || strings.Contains(g, "connections")) {
		panic("permission group " + g + " needs the tables")
	}
	switch g {
	case routes.ReadWorkers:
		return []awsiam.PolicyStatement{stmt("ReadModelsRead", ddbRead, []string{
			*t.Workers.TableArn(), *t.Workers.TableArn() + "/index/*", *t.Labs.TableArn(), *t.Activity.TableArn(),
		}, nil)}
	case grpReadModelsWrite:
		return []awsiam.PolicyStatement{stmt("ReadModelsWrite", slices.Concat(ddbRead, ddbWrite), []string{
			*t.Workers.TableArn(), *t.Workers.TableArn() + "/index/*", *t.Labs.TableArn(), *t.Activity.TableArn(),
		}, nil)}
	case routes.ReadTelemetry:
		return []awsiam.PolicyStatement{stmt("TelemetryRead", []string{"dynamodb:GetItem", "dynamodb:Query"}, []string{*t.Telemetry.TableArn()}, nil)}
	case grpTelemetryWrite:
		return []awsiam.PolicyStatement{stmt("TelemetryWrite", []string{"dynamodb:PutItem", "dynamodb:BatchWriteItem"}, []string{*t.Telemetry.TableArn()}, nil)}
	case routes.WriteEvents:
		// Appends are conditional puts (attribute_not_exists(sk)); snapshots
		// are puts too. No update or delete: the event store is append-only.
		return []awsiam.PolicyStatement{stmt("EventsAppend", []string{"dynamodb:PutItem"}, []string{*t.Events.TableArn()}, nil)}
	case routes.ReadEvents:
		return []awsiam.PolicyStatement{stmt("EventsRead", []string{"dynamodb:GetItem", "dynamodb:Query"}, []string{*t.Events.TableArn()}, nil)}
	case routes.ReadSettings:
		// Only the settings aggregate's items (partition key fleet-settings).
		return []awsiam.PolicyStatement{stmt("SettingsRead", []string{"dynamodb:GetItem", "dynamodb:Query"}, []string{*t.Events.TableArn()},
			map[string]any{"ForAllValues:StringEquals": map[string]any{"dynamodb:LeadingKeys": []string{settingsAggregate}}})}
	case routes.Sessions:
		return []awsiam.PolicyStatement{stmt("Sessions", []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"},
			[]string{*t.Sessions.TableArn()}, nil)}
	case grpConnections:
		// Scan: a broadcast to every subscriber walks the (small) table.
		return []awsiam.PolicyStatement{stmt("Connections", []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan"},
			[]string{*t.Connections.TableArn()}, nil)}
	case routes.EC2Control:
		return p.ec2Control()
	case routes.EC2Describe:
		return p.ec2Describe()
	case routes.EC2Launch:
		return p.ec2Launch()
	case grpEC2Adopt:
		return p.ec2Adopt()
	case routes.StartWorkflow:
		return []awsiam.PolicyStatement{stmt("StartProvisioning", []string{"states:StartExecution"},
			[]string{p.need(g, "the state machine", p.stateMachineARN)}, nil)}
	case routes.CMLCredentials:
		// The fleet-wide credentials, and the per-worker overrides
		// (cml-credentials/<worker id>, internal/secrets).
		return []awsiam.PolicyStatement{stmt("CMLCredentials", []string{"secretsmanager:GetSecretValue"},
			[]string{p.need(g, "the CML secret", p.cmlSecretARN), p.secretARN(cmlCredentialsName + "/*")}, nil)}
	case routes.LicenseSecrets:
		// One secret per worker's license token, created, replaced and
		// removed at run time (internal/secrets: license-token/<worker id>).
		return []awsiam.PolicyStatement{stmt("LicenseSecrets", []string{
			"secretsmanager:GetSecretValue", "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret",
		}, []string{p.secretARN(licenseTokenPrefix + "*")}, nil)}
	case routes.OIDCClient:
		return []awsiam.PolicyStatement{stmt("OIDCClientSecret", []string{"secretsmanager:GetSecretValue"},
			[]string{p.need(g, "the OIDC client secret", p.oidcSecretARN)}, nil)}
	case routes.PublishEvents:
		return []awsiam.PolicyStatement{stmt("PublishIntegrationEvents", []string{"events:PutEvents"},
			[]string{p.need(g, "the event bus", p.busARN)}, nil)}
	case routes.CloudWatchRead:
		// GetMetricData has no resource-level permissions.
		out := []awsiam.PolicyStatement{stmt("MetricsRead", []string{"cloudwatch:GetMetricData"}, []string{"*"}, nil)}
		return append(out, p.assumeWorkerRoles()...)
	case routes.InvokeAutomated:
		return []awsiam.PolicyStatement{stmt("InvokeAutomation", []string{"lambda:InvokeFunction"},
			[]string{p.need(g, "the automation function", p.automationARN)}, nil)}
	case grpWSManage:
		return []awsiam.PolicyStatement{stmt("ManageWebSocketConnections", []string{"execute-api:ManageConnections"},
			[]string{p.need(g, "the WebSocket API", p.wsManageARN) + "/*/@connections/*"}, nil)}
	}
	panic("unknown permission group " + g)
}

// Secret names under the environment's prefix (internal/secrets).
const (
	cmlCredentialsName = "cml-credentials"
	licenseTokenPrefix = "license-token/"
)

// secretsPrefix is the name prefix of the environment's secrets
// ("cmlcm/dev/"), the Lambdas' SECRETS_PREFIX.
func secretsPrefix(e Environment) string { return "cmlcm/" + e.Name + "/" }

// secretARN is the ARN pattern of a secret of the environment by name
// (Secrets Manager appends "-" and six random characters to a name).
func (p *Permissions) secretARN(name string) string {
	return fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s%s", p.env.Region, p.env.Account, secretsPrefix(p.env), name)
}

// localRegions are the worker regions in the environment's own account.
func (p *Permissions) localRegions() []WorkerRegion {
	var out []WorkerRegion
	for _, w := range p.env.WorkerRegions {
		if !w.CrossAccount(p.env.Account) {
			out = append(out, w)
		}
	}
	return out
}

// assumeWorkerRoles lets a function act in the worker accounts; what it may
// do there is that account's role policy (docs/deploy.md).
func (p *Permissions) assumeWorkerRoles() []awsiam.PolicyStatement {
	var roles []string
	for _, w := range p.env.WorkerRegions {
		if w.CrossAccount(p.env.Account) && !slices.Contains(roles, w.RoleARN) {
			roles = append(roles, w.RoleARN)
		}
	}
	if len(roles) == 0 {
		return nil
	}
	return []awsiam.PolicyStatement{stmt("AssumeWorkerAccountRoles", []string{"sts:AssumeRole"}, roles, nil)}
}

func (p *Permissions) ec2ARN(region, resource string) string {
	return fmt.Sprintf("arn:aws:ec2:%s:%s:%s", region, p.env.Account, resource)
}

func (p *Permissions) ec2Control() []awsiam.PolicyStatement {
	var instances []string
	for _, w := range p.localRegions() {
		instances = append(instances, p.ec2ARN(w.Region, "instance/*"))
	}
	managed := map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/" + managedTag: "true"}}
	var out []awsiam.PolicyStatement
	if len(instances) > 0 {
		out = append(out,
			stmt("ControlManagedInstances", []string{"ec2:StartInstances", "ec2:StopInstances", "ec2:RebootInstances", "ec2:TerminateInstances"}, instances, managed),
			// User tags only: the cmlcm:* tags (including the managed tag)
			// can be neither set nor removed here.
			stmt("TagManagedInstances", []string{"ec2:CreateTags", "ec2:DeleteTags"}, instances, map[string]any{
				"StringEquals":               map[string]any{"aws:ResourceTag/" + managedTag: "true"},
				"ForAllValues:StringNotLike": map[string]any{"aws:TagKeys": []string{"cmlcm:*"}},
			}),
		)
	}
	return append(out, p.assumeWorkerRoles()...)
}

func (p *Permissions) ec2Describe() []awsiam.PolicyStatement {
	var regions []string
	for _, w := range p.localRegions() {
		regions = append(regions, w.Region)
	}
	var out []awsiam.PolicyStatement
	if len(regions) > 0 {
		// EC2 Describe* actions have no resource-level permissions; they
		// are limited to the worker regions instead.
		out = append(out, stmt("DescribeWorkers", []string{
			"ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
			"ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
		}, []string{"*"}, map[string]any{"StringEquals": map[string]any{"aws:RequestedRegion": regions}}))
	}
	return append(out, p.assumeWorkerRoles()...)
}

func (p *Permissions) ec2Launch() []awsiam.PolicyStatement {
	var tagged, untagged, tagOnCreate []string
	for _, w := range p.localRegions() {
		tagged = append(tagged, p.ec2ARN(w.Region, "instance/*"))
		// The instance's volumes and network interfaces are created with it;
		// images, subnets and security groups are used, not created.
		untagged = append(untagged,
			p.ec2ARN(w.Region, "volume/*"), p.ec2ARN(w.Region, "network-interface/*"),
			fmt.Sprintf("arn:aws:ec2:%s::image/*", w.Region))
		if len(w.SubnetIDs) == 0 {
			untagged = append(untagged, p.ec2ARN(w.Region, "subnet/*"))
		}
		for _, s := range w.SubnetIDs {
			untagged = append(untagged, p.ec2ARN(w.Region, "subnet/"+s))
		}
		if len(w.SecurityGroupIDs) == 0 {
			untagged = append(untagged, p.ec2ARN(w.Region, "security-group/*"))
		}
		for _, s := range w.SecurityGroupIDs {
			untagged = append(untagged, p.ec2ARN(w.Region, "security-group/"+s))
		}
		// An SSH key pair may be named by the launch settings.
		untagged = append(untagged, p.ec2ARN(w.Region, "key-pair/*"))
		tagOnCreate = append(tagOnCreate, p.ec2ARN(w.Region, "instance/*"), p.ec2ARN(w.Region, "volume/*"), p.ec2ARN(w.Region, "network-interface/*"))
	}
	var out []awsiam.PolicyStatement
	if len(tagged) > 0 {
		out = append(out,
			// The instance must be created with cmlcm:managed=true, so
			// everything launched is something ec2:control may act on.
			stmt("LaunchManagedInstances", []string{"ec2:RunInstances"}, tagged,
				map[string]any{"StringEquals": map[string]any{"aws:RequestTag/" + managedTag: "true"}}),
			stmt("LaunchUsing", []string{"ec2:RunInstances"}, untagged, nil),
			stmt("TagOnLaunch", []string{"ec2:CreateTags"}, tagOnCreate,
				map[string]any{"StringEquals": map[string]any{"ec2:CreateAction": "RunInstances"}}),
		)
	}
	if p.env.WorkerInstanceRoleARN != "" {
		// The workers' instance profile carries this role.
		out = append(out, stmt("PassWorkerInstanceRole", []string{"iam:PassRole"}, []string{p.env.WorkerInstanceRoleARN},
			map[string]any{"StringEquals": map[string]any{"iam:PassedToService": "ec2.amazonaws.com"}}))
	}
	return append(out, p.assumeWorkerRoles()...)
}

// ec2Adopt lets an import make an existing instance ours: only instances
// without the managed tag, only the managed tag keys, and managed=true.
func (p *Permissions) ec2Adopt() []awsiam.PolicyStatement {
	var instances []string
	for _, w := range p.localRegions() {
		instances = append(instances, p.ec2ARN(w.Region, "instance/*"))
	}
	var out []awsiam.PolicyStatement
	if len(instances) > 0 {
		out = append(out, stmt("AdoptInstances", []string{"ec2:CreateTags"}, instances, map[string]any{
			"Null":                      map[string]any{"aws:ResourceTag/" + managedTag: "true"},
			"StringEquals":              map[string]any{"aws:RequestTag/" + managedTag: "true"},
			"ForAllValues:StringEquals": map[string]any{"aws:TagKeys": managedTagKeys},
		}))
	}
	return append(out, p.assumeWorkerRoles()...)
}
