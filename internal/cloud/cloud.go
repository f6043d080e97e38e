// Package cloud is the vocabulary shared by the EC2/CloudWatch adapter
// (internal/ec2cloud) and the local sandbox (internal/sandbox): launch
// specs, observed instances, metric samples, discovery filters, the EC2
// state-change event, managed tag keys and the error classes callers branch
// on. It is pure Go: no SDK, no I/O.
package cloud

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"time"
)

// Managed tag keys. Every instance we launch carries them, so discovery and
// the EC2 state-change handler can tell our instances from anyone else's.
const (
	TagManaged     = "cmlcm:managed"     // "true" on every instance we launch
	TagWorkerID    = "cmlcm:worker-id"   // the worker aggregate id
	TagEnvironment = "cmlcm:environment" // deployment environment (prod, dev, local…)
	TagName        = "Name"              // EC2 console name

	// TagSandboxEndpoint holds the URL of the simulated CML API of a
	// sandbox instance (its port changes per instance). Real instances do
	// not carry it: their CML API is https://<ip>.
	TagSandboxEndpoint = "cmlcm:sandbox-endpoint"
)

// State is an EC2 instance state name.
type State string

// EC2 instance states.
const (
	StatePending      State = "pending"
	StateRunning      State = "running"
	StateStopping     State = "stopping"
	StateStopped      State = "stopped"
	StateShuttingDown State = "shutting-down"
	StateTerminated   State = "terminated"
)

// LiveStates are the states of an instance that still exists (discovery's
// default: terminated instances linger in EC2 for about an hour).
var LiveStates = []State{StatePending, StateRunning, StateStopping, StateStopped}

// CheckStatus is an EC2 status check result (system or instance check).
type CheckStatus string

// EC2 status check values.
const (
	CheckInitializing     CheckStatus = "initializing"
	CheckOK               CheckStatus = "ok"
	CheckImpaired         CheckStatus = "impaired"
	CheckInsufficientData CheckStatus = "insufficient-data"
	CheckNotApplicable    CheckStatus = "not-applicable"
)

// LaunchSpec is everything needed to run one worker instance.
type LaunchSpec struct {
	WorkerID string // also the idempotency (client) token
	Region   string
	Name     string // Name tag

	// Exactly one of AMIID and AMINamePattern. A pattern uses EC2 name
	// filter wildcards (* and ?) and selects the newest available match.
	AMIID          string
	AMINamePattern string
	AMIOwners      []string // optional owners for the pattern search ("self", account ids)

	InstanceType       string
	SubnetIDs          []string // in preference order: capacity errors move to the next
	SecurityGroupIDs   []string
	KeyName            string
	RootVolumeGiB      int32  // 0 keeps the AMI's size
	InstanceProfile    string // IAM instance profile name or ARN
	DetailedMonitoring bool   // 1-minute CloudWatch metrics

	Environment string            // value of the cmlcm:environment tag
	Tags        map[string]string // user tags; managed keys override them
}

// Validate reports what makes the spec unusable, as ErrInvalidConfig.
func (s LaunchSpec) Validate() error {
	var problems []string
	if s.WorkerID == "" {
		problems = append(problems, "worker id is required")
	}
	if s.Region == "" {
		problems = append(problems, "region is required")
	}
	if (s.AMIID == "") == (s.AMINamePattern == "") {
		problems = append(problems, "exactly one of AMI id and AMI name pattern is required")
	}
	if s.InstanceType == "" {
		problems = append(problems, "instance type is required")
	}
	if s.RootVolumeGiB < 0 {
		problems = append(problems, "root volume size must not be negative")
	}
	for k := range s.Tags {
		if strings.HasPrefix(k, "aws:") {
			problems = append(problems, fmt.Sprintf("tag key %q uses the reserved aws: prefix", k))
		}
	}
	if len(problems) > 0 {
		return &Error{Kind: ErrInvalidConfig, Op: "Launch", Message: strings.Join(problems, "; ")}
	}
	return nil
}

// AllTags returns the user tags plus the managed tags; managed keys win,
// so a user tag can never hide an instance from discovery.
func (s LaunchSpec) AllTags() map[string]string {
	tags := make(map[string]string, len(s.Tags)+4)
	maps.Copy(tags, s.Tags)
	tags[TagManaged] = "true"
	tags[TagWorkerID] = s.WorkerID
	if s.Environment != "" {
		tags[TagEnvironment] = s.Environment
	}
	if s.Name != "" {
		tags[TagName] = s.Name
	}
	return tags
}

// Instance is one observed EC2 instance.
type Instance struct {
	ID     string
	Region string
	State  State
	// StateTransitionTime is when the instance entered State, when EC2 says
	// (it does for user-initiated stops and terminations); zero otherwise.
	StateTransitionTime time.Time
	StateReason         string // EC2's state transition reason, verbatim

	SystemStatus   CheckStatus // EC2 system status check
	InstanceStatus CheckStatus // EC2 instance status check

	PublicIP         string
	PrivateIP        string
	InstanceType     string
	AMIID            string
	SubnetID         string
	AvailabilityZone string
	LaunchTime       time.Time
	Monitoring       string // "enabled", "disabled", "pending", "disabling"
	Tags             map[string]string
}

// WorkerID returns the cmlcm:worker-id tag, empty for unmanaged instances.
func (i Instance) WorkerID() string { return i.Tags[TagWorkerID] }

// Managed reports whether we launched (or adopted) the instance.
func (i Instance) Managed() bool { return i.Tags[TagManaged] == "true" }

// CMLURL is the base URL of the CML API on the instance: the sandbox
// endpoint tag when present, else https on the public IP, else the
// private IP; empty when the instance has no address (stopped).
func (i Instance) CMLURL() string {
	if u := i.Tags[TagSandboxEndpoint]; u != "" {
		return u
	}
	if i.PublicIP != "" {
		return "https://" + i.PublicIP
	}
	if i.PrivateIP != "" && i.State == StateRunning {
		return "https://" + i.PrivateIP
	}
	return ""
}

// StatusOK reports whether the instance runs with both status checks ok.
func (i Instance) StatusOK() bool {
	return i.State == StateRunning && i.SystemStatus == CheckOK && i.InstanceStatus == CheckOK
}

// MetricSample is the latest CloudWatch reading of one instance in a window.
// A zero CPUAt or MemoryAt means the metric had no datapoint (memory needs
// the CloudWatch agent on the instance).
type MetricSample struct {
	InstanceID    string
	CPUPercent    float64
	CPUAt         time.Time
	MemoryPercent float64
	MemoryAt      time.Time
}

// HasCPU reports whether CPUPercent holds a reading.
func (m MetricSample) HasCPU() bool { return !m.CPUAt.IsZero() }

// HasMemory reports whether MemoryPercent holds a reading.
func (m MetricSample) HasMemory() bool { return !m.MemoryAt.IsZero() }

// At is the time of the newest reading in the sample.
func (m MetricSample) At() time.Time {
	if m.MemoryAt.After(m.CPUAt) {
		return m.MemoryAt
	}
	return m.CPUAt
}

// DiscoverFilter selects instances for import. All set criteria must hold.
type DiscoverFilter struct {
	// Tags: key → value; an empty value matches any value of the key.
	Tags map[string]string
	// AMINamePattern selects instances whose AMI name matches (EC2 name
	// filter wildcards * and ?).
	AMINamePattern string
	AMIOwners      []string // optional owners for the AMI search
	// States defaults to LiveStates.
	States []State
}

// StatesOrDefault returns States, or LiveStates when none were given.
func (f DiscoverFilter) StatesOrDefault() []State {
	if len(f.States) == 0 {
		return LiveStates
	}
	return f.States
}

// Cloud is the method set both ec2cloud and sandbox implement. It exists
// for compile-time assertions and local wiring; consumers declare their own
// small interfaces with just the methods they call.
type Cloud interface {
	// Launch runs one instance; retrying with the same WorkerID returns the
	// same instance instead of creating a second one.
	Launch(ctx context.Context, spec LaunchSpec) (Instance, error)
	Start(ctx context.Context, region, instanceID string) error
	Stop(ctx context.Context, region, instanceID string) error
	// Terminate tolerates an instance that is already gone.
	Terminate(ctx context.Context, region, instanceID string) error
	// Tag sets the tags in set and removes the keys in remove.
	Tag(ctx context.Context, region, instanceID string, set map[string]string, remove []string) error
	EnableMonitoring(ctx context.Context, region, instanceID string) error
	// Describe returns the instances that exist among ids (unknown ids are
	// left out, not an error), with their status checks.
	Describe(ctx context.Context, region string, ids []string) ([]Instance, error)
	Discover(ctx context.Context, region string, f DiscoverFilter) ([]Instance, error)
	// Metrics returns the latest CPU and memory reading per instance in
	// [from, to]; instances without data are absent from the map.
	Metrics(ctx context.Context, region string, ids []string, from, to time.Time) (map[string]MetricSample, error)
}

// MatchPattern reports whether name matches an EC2 filter pattern, where *
// matches any run of characters and ? exactly one (EC2 filter semantics,
// unlike path.Match, give / no special meaning).
func MatchPattern(pattern, name string) bool {
	p, n := []rune(pattern), []rune(name)
	// Iterative wildcard match with single backtrack point: linear enough
	// for AMI names and never recursive.
	pi, ni, star, mark := 0, 0, -1, 0
	for ni < len(n) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == n[ni]):
			pi++
			ni++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ni
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			ni = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
