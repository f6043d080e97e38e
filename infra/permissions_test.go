package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/cmlcm/cmlcm/internal/routes"
)

// grant is one (action, resource) pair a role may use; resource is a
// regexp over canon()'s rendering of the policy's Resource.
type grant struct{ action, resource string }

// Resource patterns of the synthesized templates (see canon).
func tableRE(name string) string { return `out:\w*` + name + `Table[0-9A-F]{8}Arn\w*` }

// expectedGrants is an independent statement of what each permission group
// must grant in an environment — the test's own copy of the mapping, not a
// call into permissions.go.
func expectedGrants(env Environment, group string) []grant {
	each := func(actions []string, resources ...string) []grant {
		var out []grant
		for _, a := range actions {
			for _, r := range resources {
				out = append(out, grant{a, "^" + r + "$"})
			}
		}
		return out
	}
	var local []WorkerRegion
	var roles []string
	for _, w := range env.WorkerRegions {
		if w.RoleARN == "" {
			local = append(local, w)
		} else if !slices.Contains(roles, w.RoleARN) {
			roles = append(roles, w.RoleARN)
		}
	}
	assume := func() []grant {
		var out []grant
		for _, r := range roles {
			out = append(out, grant{"sts:AssumeRole", "^" + regexp.QuoteMeta(r) + "$"})
		}
		return out
	}
	ec2 := func(region, res string) string {
		return regexp.QuoteMeta(fmt.Sprintf("arn:aws:ec2:%s:%s:%s", region, env.Account, res))
	}
	readModels := []string{tableRE("Workers"), tableRE("Workers") + `/index/\*`, tableRE("Labs"), tableRE("Activity")}
	switch group {
	case routes.ReadWorkers:
		return each([]string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}, readModels...)
	case routes.ReadTelemetry:
		return each([]string{"dynamodb:GetItem", "dynamodb:Query"}, tableRE("Telemetry"))
	case routes.WriteEvents:
		return each([]string{"dynamodb:PutItem"}, tableRE("Events"))
	case routes.ReadEvents, routes.ReadSettings:
		return each([]string{"dynamodb:GetItem", "dynamodb:Query"}, tableRE("Events"))
	case routes.Sessions:
		return each([]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}, tableRE("Sessions"))
	case routes.EC2Control:
		var out []grant
		for _, w := range local {
			out = append(out, each([]string{"ec2:StartInstances", "ec2:StopInstances", "ec2:RebootInstances", "ec2:TerminateInstances",
				"ec2:CreateTags", "ec2:DeleteTags"}, ec2(w.Region, "instance/*"))...)
		}
		return append(out, assume()...)
	case routes.EC2Describe:
		out := each([]string{"ec2:DescribeInstances", "ec2:DescribeInstanceStatus", "ec2:DescribeImages", "ec2:DescribeInstanceTypes",
			"ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"}, `\*`)
		return append(out, assume()...)
	case routes.EC2Launch:
		var out []grant
		for _, w := range local {
			res := []string{ec2(w.Region, "instance/*"), ec2(w.Region, "volume/*"), ec2(w.Region, "network-interface/*"),
				regexp.QuoteMeta("arn:aws:ec2:" + w.Region + "::image/*")}
			subnets, sgs := w.SubnetIDs, w.SecurityGroupIDs
			if len(subnets) == 0 {
				subnets = []string{"*"}
			}
			if len(sgs) == 0 {
				sgs = []string{"*"}
			}
			for _, s := range subnets {
				res = append(res, ec2(w.Region, "subnet/"+s))
			}
			for _, s := range sgs {
				res = append(res, ec2(w.Region, "security-group/"+s))
			}
			res = append(res, ec2(w.Region, "key-pair/*"))
			out = append(out, each([]string{"ec2:RunInstances"}, res...)...)
			out = append(out, each([]string{"ec2:CreateTags"}, ec2(w.Region, "instance/*"), ec2(w.Region, "volume/*"), ec2(w.Region, "network-interface/*"))...)
		}
		if env.WorkerInstanceRoleARN != "" {
			out = append(out, grant{"iam:PassRole", "^" + regexp.QuoteMeta(env.WorkerInstanceRoleARN) + "$"})
		}
		return append(out, assume()...)
	case grpEC2Adopt:
		var out []grant
		for _, w := range local {
			out = append(out, each([]string{"ec2:CreateTags"}, ec2(w.Region, "instance/*"))...)
		}
		return append(out, assume()...)
	case routes.StartWorkflow:
		return each([]string{"states:StartExecution"}, `ref:Provisioning[0-9A-F]{8}`)
	case routes.CMLCredentials:
		return each([]string{"secretsmanager:GetSecretValue"}, `out:\w*CMLCredentials\w*`,
			regexp.QuoteMeta(fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:cmlcm/%s/cml-credentials/*", env.Region, env.Account, env.Name)))
	case routes.LicenseSecrets:
		return each([]string{"secretsmanager:GetSecretValue", "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret"},
			regexp.QuoteMeta(fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:cmlcm/%s/license-token/*", env.Region, env.Account, env.Name)))
	case routes.OIDCClient:
		return each([]string{"secretsmanager:GetSecretValue"}, `ref:LoginClientSecret[0-9A-F]{8}`)
	case routes.PublishEvents:
		return each([]string{"events:PutEvents"}, `out:\w*IntegrationBus\w*Arn\w*`)
	case routes.CloudWatchRead:
		return append(each([]string{"cloudwatch:GetMetricData"}, `\*`), assume()...)
	case routes.InvokeAutomated:
		return each([]string{"lambda:InvokeFunction"}, `getatt:Provision[0-9A-F]{8}\.Arn`)
	}
	panic("test does not know group " + group)
}

// roleGrants collects every (action, resource) of the policies attached to
// a role.
func roleGrants(tpl *template, roleID string) []grant {
	var out []grant
	for _, p := range tpl.ofType("AWS::IAM::Policy") {
		attached := false
		for _, r := range list(p.Properties["Roles"]) {
			if canon(r) == "ref:"+roleID {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, s := range list(path(p.Properties, "PolicyDocument", "Statement")) {
			st := s.(map[string]any)
			if st["Effect"] != "Allow" {
				continue
			}
			for _, a := range list(st["Action"]) {
				for _, r := range list(st["Resource"]) {
					out = append(out, grant{a.(string), canon(r)})
				}
			}
		}
	}
	return out
}

// functionsByRoute finds the route functions by their ROUTE_NAME.
func functionsByRoute(tpl *template) map[string][]resource {
	out := map[string][]resource{}
	for _, fn := range tpl.ofType("AWS::Lambda::Function") {
		if name, ok := path(fn.Properties, "Environment", "Variables", envRouteName).(string); ok {
			out[name] = append(out[name], fn)
		}
	}
	return out
}

func TestOneFunctionPerRouteWithExactlyItsPermissions(t *testing.T) {
	s := synth(t)
	for _, env := range s.envs {
		tpl := s.stack(t, env.Name, "service")
		byRoute := functionsByRoute(tpl)
		if len(byRoute) != len(routes.All) {
			t.Errorf("%s: %d route functions, want %d (one per route)", env.Name, len(byRoute), len(routes.All))
		}
		for _, r := range routes.All {
			fns := byRoute[r.Name]
			if len(fns) != 1 {
				t.Errorf("%s: route %s has %d functions, want 1", env.Name, r.Name, len(fns))
				continue
			}
			fn := fns[0]
			roleID := strings.TrimSuffix(strings.TrimPrefix(canon(fn.Properties["Role"]), "getatt:"), ".Arn")
			got := roleGrants(tpl, roleID)

			// Every role may write its own log group and traces; that is the
			// whole baseline.
			logGroup := "getatt:" + strings.TrimPrefix(canon(path(fn.Properties, "LoggingConfig", "LogGroup")), "ref:") + ".Arn"
			want := []grant{
				{"logs:CreateLogStream", "^" + regexp.QuoteMeta(logGroup) + "$"},
				{"logs:PutLogEvents", "^" + regexp.QuoteMeta(logGroup) + "$"},
				{"xray:PutTraceSegments", `^\*$`}, {"xray:PutTelemetryRecords", `^\*$`},
			}
			for _, g := range r.Permissions {
				want = append(want, expectedGrants(env, g)...)
			}
			compareGrants(t, env.Name+"/"+r.Name, got, want)
		}
	}
}

// compareGrants: every granted pair is expected, every expected pair is
// granted.
func compareGrants(t *testing.T, who string, got, want []grant) {
	t.Helper()
	used := make([]bool, len(want))
	var extra []string
	for _, g := range got {
		ok := false
		for i, w := range want {
			if w.action == g.action && regexp.MustCompile(w.resource).MatchString(g.resource) {
				used[i], ok = true, true
			}
		}
		if !ok {
			extra = append(extra, g.action+" on "+g.resource)
		}
	}
	var missing []string
	for i, w := range want {
		if !used[i] {
			missing = append(missing, w.action+" on "+w.resource)
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	if len(extra) > 0 {
		t.Errorf("%s grants more than its permissions:\n  %s", who, strings.Join(extra, "\n  "))
	}
	if len(missing) > 0 {
		t.Errorf("%s lacks permissions its route declares:\n  %s", who, strings.Join(missing, "\n  "))
	}
}

// statements yields every policy statement of every template (identity
// and resource policies), with where it is.
func statements(s *synthesis) map[string][]map[string]any {
	out := map[string][]map[string]any{}
	for name, tpl := range s.templates {
		for _, r := range tpl.resources {
			var doc any
			switch r.Type {
			case "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
				doc = r.Properties["PolicyDocument"]
			case "AWS::IAM::Role":
				for _, p := range list(r.Properties["Policies"]) {
					for _, st := range list(path(p, "PolicyDocument", "Statement")) {
						out[name+"/"+r.ID] = append(out[name+"/"+r.ID], st.(map[string]any))
					}
				}
				continue
			default:
				continue
			}
			for _, st := range list(path(doc, "Statement")) {
				out[name+"/"+r.ID] = append(out[name+"/"+r.ID], st.(map[string]any))
			}
		}
	}
	return out
}

// Actions AWS offers no resource-level permissions for.
var unscopable = regexp.MustCompile(`^(xray:PutTraceSegments|xray:PutTelemetryRecords|ec2:Describe\w+|cloudwatch:GetMetricData|` +
	`logs:(CreateLogDelivery|GetLogDelivery|UpdateLogDelivery|DeleteLogDelivery|ListLogDeliveries|PutResourcePolicy|DescribeResourcePolicies|DescribeLogGroups)|` +
	`xray:GetSamplingRules|xray:GetSamplingTargets|dynamodb:ListStreams)$`)

// TestWildcardResourcesOnlyForUnscopableActions backs the IAM5 "Resource::*"
// suppression: no identity policy of ours puts Resource * on an action that
// could be scoped. CDK's own deploy-time BucketDeployment handler is
// outside this promise (its suppression says why).
func TestWildcardResourcesOnlyForUnscopableActions(t *testing.T) {
	s := synth(t)
	for where, sts := range statements(s) {
		if strings.Contains(where, "CDKBucketDeployment") {
			continue
		}
		for _, st := range sts {
			for _, r := range list(st["Resource"]) {
				if r != "*" {
					continue
				}
				for _, a := range list(st["Action"]) {
					if !unscopable.MatchString(a.(string)) {
						t.Errorf("%s: %s on Resource *", where, a)
					}
				}
			}
		}
	}
}

func TestNoWildcardActionsOrAdminPolicies(t *testing.T) {
	s := synth(t)
	for where, sts := range statements(s) {
		for _, st := range sts {
			for _, a := range list(st["Action"]) {
				if a == "*" || strings.HasSuffix(a.(string), ":*") {
					t.Errorf("%s: wildcard action %s", where, a)
				}
			}
		}
	}
	for name, tpl := range s.templates {
		for _, r := range tpl.ofType("AWS::IAM::Role") {
			for _, m := range list(r.Properties["ManagedPolicyArns"]) {
				if strings.Contains(canon(m), "AdministratorAccess") || strings.Contains(canon(m), "PowerUser") {
					t.Errorf("%s/%s: admin managed policy %s", name, r.ID, canon(m))
				}
			}
		}
	}
}

// TestEC2ActionsAreConditionedOnTheManagedTag: acting on instances needs
// the managed tag on them; launching needs it in the request.
func TestEC2ActionsAreConditionedOnTheManagedTag(t *testing.T) {
	s := synth(t)
	checked := 0
	for where, sts := range statements(s) {
		for _, st := range sts {
			for _, a := range list(st["Action"]) {
				action := a.(string)
				if !strings.HasPrefix(action, "ec2:") || strings.HasPrefix(action, "ec2:Describe") {
					continue
				}
				checked++
				cond := st["Condition"]
				onInstance := false
				for _, r := range list(st["Resource"]) {
					onInstance = onInstance || strings.HasSuffix(canon(r), ":instance/*")
				}
				switch {
				case action == "ec2:RunInstances" && onInstance:
					if path(cond, "StringEquals", "aws:RequestTag/cmlcm:managed") != "true" {
						t.Errorf("%s: RunInstances on instances without aws:RequestTag/cmlcm:managed=true: %v", where, cond)
					}
				case action == "ec2:RunInstances":
					// Volumes, interfaces, AMIs, subnets, security groups the
					// tagged instance uses.
				case action == "ec2:CreateTags" && path(cond, "StringEquals", "ec2:CreateAction") == "RunInstances":
					// Tagging during launch only.
				case action == "ec2:CreateTags" && path(cond, "Null", "aws:ResourceTag/cmlcm:managed") == "true":
					// Adoption of an unmanaged instance (TestAdoptOnly...).
				case action == "ec2:CreateTags" || action == "ec2:DeleteTags":
					if path(cond, "StringEquals", "aws:ResourceTag/cmlcm:managed") != "true" ||
						fmt.Sprint(path(cond, "ForAllValues:StringNotLike", "aws:TagKeys")) != "[cmlcm:*]" {
						t.Errorf("%s: %s must need the managed tag and exclude cmlcm:* keys: %v", where, action, cond)
					}
				default:
					if path(cond, "StringEquals", "aws:ResourceTag/cmlcm:managed") != "true" {
						t.Errorf("%s: %s without aws:ResourceTag/cmlcm:managed=true: %v", where, action, cond)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no EC2 statements found")
	}
}

// TestSettingsReadIsLimitedToTheSettingsAggregate: a route that may read
// settings but not events reads only the fleet-settings partition.
func TestSettingsReadIsLimitedToTheSettingsAggregate(t *testing.T) {
	s := synth(t)
	found := 0
	for _, sts := range statements(s) {
		for _, st := range sts {
			if st["Sid"] != "SettingsRead" {
				continue
			}
			if fmt.Sprint(path(st["Condition"], "ForAllValues:StringEquals", "dynamodb:LeadingKeys")) != "[fleet-settings]" {
				t.Errorf("SettingsRead without the fleet-settings leading key: %v", st["Condition"])
			}
			found++
		}
	}
	if found == 0 {
		t.Fatal("no SettingsRead statement found")
	}
}

// TestAdoptOnlyTagsUnmanagedInstancesWithManagedKeys: the import's group
// (declared by no route yet) cannot touch a managed instance or set any
// other tag.
func TestAdoptOnlyTagsUnmanagedInstancesWithManagedKeys(t *testing.T) {
	p := &Permissions{env: validEnv()}
	sts := p.Statements([]string{grpEC2Adopt})
	if len(sts) != 1 {
		t.Fatalf("%d statements", len(sts))
	}
	raw, _ := json.Marshal(sts[0].ToStatementJson())
	var v any
	json.Unmarshal(raw, &v)
	st := unwrapJSII(v).(map[string]any)
	cond := st["Condition"]
	if st["Action"] != "ec2:CreateTags" || path(cond, "Null", "aws:ResourceTag/cmlcm:managed") != "true" ||
		path(cond, "StringEquals", "aws:RequestTag/cmlcm:managed") != "true" ||
		fmt.Sprint(path(cond, "ForAllValues:StringEquals", "aws:TagKeys")) != "[cmlcm:managed cmlcm:worker-id cmlcm:environment]" {
		t.Errorf("adopt statement %s", raw)
	}
}

// unwrapJSII removes the {"$jsii.map": ...} wrappers of values read back
// from the jsii runtime.
func unwrapJSII(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if inner, ok := x["$jsii.map"]; ok && len(x) == 1 {
			return unwrapJSII(inner)
		}
		out := map[string]any{}
		for k, e := range x {
			out[k] = unwrapJSII(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = unwrapJSII(e)
		}
	}
	return v
}
