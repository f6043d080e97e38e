// Package provision is the metal provisioning workflow: one spec (the
// ordered steps with their poll intervals, retry and timeout policies, and
// the compensation every failure runs) read by two executors — the Step
// Functions state machine the infrastructure generates from Spec(), whose
// Lambda (lambdas/provision) dispatches on the task name to Tasks.Run, and
// the local in-process Runner, which walks the same spec with the same
// semantics. The step implementations are plain functions shared by both.
package provision

import (
	"time"

	"github.com/cmlcm/cmlcm/internal/settings"
)

// Step and task names. The task name is what the Lambda dispatches on
// (the "task" field of the state machine input).
const (
	StepValidate         = "validate"
	StepLaunch           = "launch"
	StepWaitRunning      = "wait-running"
	StepWaitStatusChecks = "wait-status-checks"
	StepWaitCMLReady     = "wait-cml-ready"
	StepRegisterLicense  = "register-license"
	StepReady            = "ready"
	StepCompensate       = "compensate"
)

// Error names a task fails with. The Lambda runtime reports a Go error's
// type name as the error name, so these are the type names of the errors
// in errors.go and what Retry and Catch match on.
const (
	ErrorTransient = "TransientError" // retried per the step's Retry
	ErrorTimeout   = "StepTimeout"    // a wait ran out of time; caught
	ErrorFailed    = "StepFailed"     // cannot succeed; caught
	// ErrorAll is Step Functions' catch-all.
	ErrorAll = "States.ALL"
)

// Retry is a step's retry policy for transient errors: at most
// MaxAttempts attempts in all, waiting Interval, then Interval×Backoff, …
type Retry struct {
	ErrorEquals []string      `json:"errorEquals"`
	MaxAttempts int           `json:"maxAttempts"`
	Interval    time.Duration `json:"interval"`
	Backoff     float64       `json:"backoff"`
}

// Delay is the wait before attempt n+1 (n ≥ 1) after attempt n failed.
func (r Retry) Delay(n int) time.Duration {
	d := float64(r.Interval)
	for range n - 1 {
		d *= r.Backoff
	}
	return time.Duration(d)
}

// Step is one state of the workflow.
type Step struct {
	Name string `json:"name"`
	// Task is the Lambda task name the step invokes (the Lambda input's
	// "task" field).
	Task string `json:"task"`
	// Poll marks a wait step: the task answers done=false while the
	// awaited condition does not hold yet, and the executor waits
	// PollInterval (or the state's "waitSeconds", see WaitSecondsPath)
	// before calling it again. The task itself fails with StepTimeout once
	// Timeout has passed since the step started (the state carries the
	// step's start), so the loop needs no counter in the state machine.
	Poll         bool          `json:"poll"`
	PollInterval time.Duration `json:"pollInterval,omitempty"`
	Timeout      time.Duration `json:"timeout,omitempty"`
	Retry        Retry         `json:"retry"`
	// Catch is the step that runs on any other error (and on retries
	// exhausted): the compensation.
	Catch string `json:"catch,omitempty"`
}

// Workflow is the whole spec.
type Workflow struct {
	Steps        []Step        `json:"steps"`
	Compensation Step          `json:"compensation"`
	TotalTimeout time.Duration `json:"totalTimeout"`
	// WaitSecondsPath is the JSONPath of the state's poll wait in whole
	// seconds, for a Step Functions Wait state's SecondsPath.
	WaitSecondsPath string `json:"waitSecondsPath"`
	// DonePath is the JSONPath of the poll result a Choice state tests.
	DonePath string `json:"donePath"`
	// ImportStartsAt is the step an imported instance joins at.
	ImportStartsAt string `json:"importStartsAt"`
}

// Step returns the named step.
func (w Workflow) Step(name string) (Step, bool) {
	for _, s := range w.Steps {
		if s.Name == name {
			return s, true
		}
	}
	if name == w.Compensation.Name {
		return w.Compensation, true
	}
	return Step{}, false
}

// Spec is the workflow with the default fleet settings' timeouts: about
// 20 minutes to CML ready on m5zn.metal, 45 minutes in all.
func Spec() Workflow { return SpecFor(settings.Defaults().Provisioning.Timeouts) }

// SpecFor is the workflow with the given timeouts. The state machine is
// generated from Spec(); at run time the validate step copies the current
// settings' timeouts into the state, and the tasks enforce those, so a
// settings change needs no redeploy (the state machine's own TotalTimeout
// stays as the outer bound).
func SpecFor(t settings.Timeouts) Workflow {
	ec2Poll := time.Duration(t.EC2PollSeconds) * time.Second
	cmlPoll := time.Duration(t.CMLPollSeconds) * time.Second
	min := func(m int) time.Duration { return time.Duration(m) * time.Minute }
	transient := Retry{ErrorEquals: []string{ErrorTransient}, MaxAttempts: 4, Interval: 2 * time.Second, Backoff: 2}
	step := func(name string, poll bool, every, timeout time.Duration) Step {
		return Step{Name: name, Task: name, Poll: poll, PollInterval: every, Timeout: timeout, Retry: transient, Catch: StepCompensate}
	}
	return Workflow{
		Steps: []Step{
			step(StepValidate, false, 0, time.Minute),
			step(StepLaunch, false, 0, 5*time.Minute),
			step(StepWaitRunning, true, ec2Poll, min(t.RunningMinutes)),
			step(StepWaitStatusChecks, true, ec2Poll, min(t.StatusChecksMinutes)),
			step(StepWaitCMLReady, true, cmlPoll, min(t.CMLReadyMinutes)),
			step(StepRegisterLicense, false, 0, 5*time.Minute),
			step(StepReady, false, 0, time.Minute),
		},
		// The compensation retries harder: it must not leave an instance
		// running that nobody knows about.
		Compensation: Step{Name: StepCompensate, Task: StepCompensate, Timeout: 5 * time.Minute,
			Retry: Retry{ErrorEquals: []string{ErrorTransient, ErrorAll}, MaxAttempts: 6, Interval: 5 * time.Second, Backoff: 2}},
		TotalTimeout:    min(t.TotalMinutes),
		WaitSecondsPath: "$.waitSeconds",
		DonePath:        "$.done",
		ImportStartsAt:  StepWaitRunning,
	}
}
