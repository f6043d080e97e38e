package main

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
)

// Environment is one deployment of the product: its own account and home
// region, its own data, its own identity federation. Everything the stacks
// need is here so that synthesis never looks anything up in AWS.
type Environment struct {
	// Name is the key of the environment in Environments, short and
	// DNS-safe ("dev", "prod"): it prefixes stack names, resource names and
	// names the API Gateway stage.
	Name    string
	Account string // 12 digits
	Region  string // home region: tables, API, Lambdas, state machine

	// Domain is the public host name of the dashboard and API (optional).
	// Without it the CloudFront domain is the public URL.
	Domain string
	// CertificateARN is an ACM certificate for Domain; CloudFront requires
	// it to live in us-east-1. Required when Domain is set.
	CertificateARN string
	// WebACLARN optionally attaches an existing WAFv2 web ACL (CLOUDFRONT
	// scope) to the distribution.
	WebACLARN string

	Keycloak Keycloak
	// CognitoDomainPrefix is the hosted-UI prefix; it must be unique in the
	// region. Defaults to "cmlcm-<name>-<account>".
	CognitoDomainPrefix string

	// WorkerRegions are where CML workers run. The home region may be one
	// of them; the others get an EventBridge forwarder stack.
	WorkerRegions []WorkerRegion

	// WorkerInstanceRoleARN is the IAM role of the workers' instance
	// profile, if the launch settings name one: RunInstances may pass it
	// (optional).
	WorkerInstanceRoleARN string

	// LogRetentionDays applies to every log group (must be a value
	// CloudWatch Logs accepts, e.g. 7, 14, 30, 90, 365).
	LogRetentionDays int
	// EventArchiveDays is how long the integration-event archive keeps
	// events (0 = forever).
	EventArchiveDays int
	// Retain keeps data when a stack or resource is deleted: tables, user
	// pool, secrets, buckets and log groups are RETAINed and deletion
	// protection is on. Production sets it; dev does not, so `cdk destroy`
	// leaves nothing behind.
	Retain bool

	// Throttling of the REST API stage (requests per second and burst).
	APIRateLimit  float64
	APIBurstLimit float64

	// AlarmEmail optionally subscribes an address to the alarm topic.
	AlarmEmail string
}

// Keycloak is the OIDC identity provider federated through Cognito.
type Keycloak struct {
	// IssuerURL is the realm's issuer, e.g. https://sso.example.com/realms/cml.
	IssuerURL string
	// ClientID is the confidential client Cognito uses against Keycloak.
	ClientID string
	// ClientSecretName names a Secrets Manager secret in the home region,
	// created by the operator before the first deploy, whose JSON holds
	// {"clientSecret": "..."}. Defaults to "cmlcm/<name>/keycloak-client".
	ClientSecretName string
	// RolesClaim is the flat, multivalued token claim Keycloak's "realm
	// roles" mapper writes (Cognito cannot map nested claims such as
	// realm_access.roles). Defaults to "roles".
	RolesClaim string
}

// WorkerRegion is a region (and optionally another account) where workers
// run.
type WorkerRegion struct {
	Region string
	// RoleARN is an IAM role in another account that our Lambdas assume to
	// manage workers there (optional; empty = the environment's account).
	RoleARN string
	// SubnetIDs and SecurityGroupIDs are where RunInstances may place
	// workers; RunInstances is allowed on exactly these (or, if empty, on
	// any subnet/security group of the region).
	SubnetIDs        []string
	SecurityGroupIDs []string
	// AMINamePatterns are the CML AMI name patterns offered for new
	// workers and used by discovery (e.g. "cml2-2.9*").
	AMINamePatterns []string
}

// Account returns the account the region's workers live in.
func (w WorkerRegion) Account(home string) string {
	if w.RoleARN == "" {
		return home
	}
	// arn:aws:iam::123456789012:role/name
	parts := strings.Split(w.RoleARN, ":")
	if len(parts) < 6 {
		return "" // not an ARN: Validate reports it
	}
	return parts[4]
}

// CrossAccount reports whether the workers of this region are in another
// account.
func (w WorkerRegion) CrossAccount(home string) bool { return w.Account(home) != home }

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9]{1,11}$`)
	accountRE = regexp.MustCompile(`^\d{12}$`)
	regionRE  = regexp.MustCompile(`^[a-z]{2}(-gov)?-[a-z]+-\d$`)
	roleRE    = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$`)
	certRE    = regexp.MustCompile(`^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[\w-]+$`)
	wafRE     = regexp.MustCompile(`^arn:aws[a-z-]*:wafv2:us-east-1:\d{12}:global/webacl/.+$`)
	subnetRE  = regexp.MustCompile(`^subnet-[0-9a-f]{8,17}$`)
	sgRE      = regexp.MustCompile(`^sg-[0-9a-f]{8,17}$`)
	prefixRE  = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
	// CloudWatch Logs accepts only these retention periods.
	logRetentions = map[int]awslogs.RetentionDays{
		1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
		7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
		60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
		150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
		400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
		1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
		2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
		3653: awslogs.RetentionDays_TEN_YEARS,
	}
)

// withDefaults fills the optional fields that have a derived default.
func (e Environment) withDefaults() Environment {
	if e.CognitoDomainPrefix == "" {
		e.CognitoDomainPrefix = "cmlcm-" + e.Name + "-" + e.Account
	}
	if e.Keycloak.ClientSecretName == "" {
		e.Keycloak.ClientSecretName = "cmlcm/" + e.Name + "/keycloak-client"
	}
	if e.Keycloak.RolesClaim == "" {
		e.Keycloak.RolesClaim = "roles"
	}
	if e.LogRetentionDays == 0 {
		e.LogRetentionDays = 30
	}
	if e.APIRateLimit == 0 {
		e.APIRateLimit = 50
	}
	if e.APIBurstLimit == 0 {
		e.APIBurstLimit = 100
	}
	return e
}

// Validate reports every problem of the environment at once, so a bad
// edit of environments.go fails synthesis with the whole list.
func (e Environment) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	if e.WorkerInstanceRoleARN != "" && !roleRE.MatchString(e.WorkerInstanceRoleARN) {
		bad("workerInstanceRoleARN %q is not an IAM role ARN", e.WorkerInstanceRoleARN)
	}
	if !nameRE.MatchString(e.Name) {
		bad("name %q: want 2-12 lower-case letters or digits, starting with a letter", e.Name)
	}
	if !accountRE.MatchString(e.Account) {
		bad("account %q: want 12 digits", e.Account)
	}
	if !regionRE.MatchString(e.Region) {
		bad("region %q is not a region name", e.Region)
	}
	if (e.Domain == "") != (e.CertificateARN == "") {
		bad("domain and certificateARN go together (CloudFront needs the certificate to serve the domain)")
	}
	if e.CertificateARN != "" && !certRE.MatchString(e.CertificateARN) {
		bad("certificateARN %q: want an ACM certificate ARN in us-east-1 (CloudFront only uses those)", e.CertificateARN)
	}
	if e.WebACLARN != "" && !wafRE.MatchString(e.WebACLARN) {
		bad("webACLARN %q: want a WAFv2 web ACL of CLOUDFRONT scope (us-east-1, global)", e.WebACLARN)
	}
	if u, err := url.Parse(e.Keycloak.IssuerURL); err != nil || u.Scheme != "https" || u.Host == "" {
		bad("keycloak issuerURL %q: want an https URL", e.Keycloak.IssuerURL)
	}
	if e.Keycloak.ClientID == "" {
		bad("keycloak clientID is required")
	}
	if p := e.CognitoDomainPrefix; !prefixRE.MatchString(p) || strings.Contains(p, "aws") ||
		strings.Contains(p, "amazon") || strings.Contains(p, "cognito") {
		bad("cognitoDomainPrefix %q: lower-case letters, digits and hyphens, without aws/amazon/cognito", p)
	}
	if len(e.WorkerRegions) == 0 {
		bad("at least one worker region is required")
	}
	seen := map[string]bool{}
	for _, w := range e.WorkerRegions {
		if !regionRE.MatchString(w.Region) {
			bad("worker region %q is not a region name", w.Region)
		}
		key := w.Account(e.Account) + "/" + w.Region
		if w.RoleARN != "" && !roleRE.MatchString(w.RoleARN) {
			bad("worker region %s: roleARN %q is not an IAM role ARN", w.Region, w.RoleARN)
			key = w.RoleARN + "/" + w.Region
		}
		if seen[key] {
			bad("worker region %s is listed twice for the same account", w.Region)
		}
		seen[key] = true
		for _, s := range w.SubnetIDs {
			if !subnetRE.MatchString(s) {
				bad("worker region %s: %q is not a subnet id", w.Region, s)
			}
		}
		for _, s := range w.SecurityGroupIDs {
			if !sgRE.MatchString(s) {
				bad("worker region %s: %q is not a security group id", w.Region, s)
			}
		}
	}
	if _, ok := logRetentions[e.LogRetentionDays]; !ok {
		days := slices.Sorted(maps.Keys(logRetentions))
		bad("logRetentionDays %d: want one of %v", e.LogRetentionDays, days)
	}
	if e.EventArchiveDays < 0 {
		bad("eventArchiveDays must not be negative")
	}
	if e.APIRateLimit < 0 || e.APIBurstLimit < 0 {
		bad("API throttling limits must not be negative")
	}
	if len(errs) > 0 {
		return fmt.Errorf("environment %q: %s", e.Name, strings.Join(errs, "; "))
	}
	return nil
}

// prefix names resources of this environment ("cmlcm-dev").
func (e Environment) prefix() string { return "cmlcm-" + e.Name }

// selectEnvironments returns the environments named by the `env` context
// value: one name, or "all". Nothing is the default, so a deploy can never
// touch an environment nobody named.
func selectEnvironments(all map[string]Environment, name string) ([]Environment, error) {
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []Environment
	switch name {
	case "":
		return nil, fmt.Errorf("no environment selected: pass -c env=<%s|all> (cdk) or CMLCM_ENVS (go run)", strings.Join(names, "|"))
	case "all":
		for _, n := range names {
			e := all[n]
			e.Name = n
			out = append(out, e)
		}
	default:
		e, ok := all[name]
		if !ok {
			return nil, fmt.Errorf("unknown environment %q: want one of %s or all", name, strings.Join(names, ", "))
		}
		e.Name = name
		out = append(out, e)
	}
	for i, e := range out {
		e = e.withDefaults()
		if err := e.Validate(); err != nil {
			return nil, err
		}
		out[i] = e
	}
	return out, nil
}

// removal is the removal policy of the environment's data.
func (e Environment) removal() awscdk.RemovalPolicy {
	if e.Retain {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}
