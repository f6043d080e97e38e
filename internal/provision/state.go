package provision

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// State is the workflow's state document: the Step Functions execution
// input, passed from task to task (each task returns the whole document),
// and what the local runner carries between steps. Every task is
// func(ctx, State) (State, error).
type State struct {
	// Task is the task to run; the Lambda dispatches on it (the state
	// machine sets it with a Pass/Parameters before each Task state).
	Task          string `json:"task,omitempty"`
	WorkerID      string `json:"workerId"`
	CorrelationID string `json:"correlationId,omitempty"`
	// Imported: the instance existed before; the workflow joined at
	// wait-running and never terminates it.
	Imported   bool   `json:"imported,omitempty"`
	Region     string `json:"region,omitempty"`
	InstanceID string `json:"instanceId,omitempty"`
	// Launched: this workflow launched InstanceID, so the compensation may
	// terminate it.
	Launched bool   `json:"launched,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`

	// Timeouts and poll intervals (inputs; validate fills the missing ones
	// from the fleet settings).
	Timeouts Timeouts `json:"timeouts"`

	// Current is the step whose start is StepStartedAt: a poll task that
	// finds another step here starts its own clock.
	Current       string    `json:"current,omitempty"`
	StepStartedAt time.Time `json:"stepStartedAt,omitzero"`
	StartedAt     time.Time `json:"startedAt,omitzero"`

	// Done is a poll task's answer; Wait and WaitSeconds say how long to
	// wait before polling again (WaitSeconds, whole and at least 1, is for
	// the Step Functions Wait state).
	Done        bool          `json:"done"`
	Wait        time.Duration `json:"waitNs,omitempty"`
	WaitSeconds int           `json:"waitSeconds,omitempty"`

	// Error is what the compensation handles: the failed step and the
	// AWS/CML message. Step Functions puts its Catch output here
	// (ResultPath "$.error", fields Error and Cause).
	Error *Failure `json:"error,omitempty"`

	// LicenseResult says what register-license did ("registered",
	// "skipped", or the failure; a licence failure does not fail the
	// worker: CML runs unlicensed with a node limit).
	LicenseResult string `json:"licenseResult,omitempty"`
}

// Timeouts are the workflow's time inputs. Zero values are filled from the
// settings by validate.
type Timeouts struct {
	Running      time.Duration `json:"runningNs,omitempty"`
	StatusChecks time.Duration `json:"statusChecksNs,omitempty"`
	CMLReady     time.Duration `json:"cmlReadyNs,omitempty"`
	Total        time.Duration `json:"totalNs,omitempty"`
	EC2Poll      time.Duration `json:"ec2PollNs,omitempty"`
	CMLPoll      time.Duration `json:"cmlPollNs,omitempty"`
	License      time.Duration `json:"licenseNs,omitempty"`
	LicensePoll  time.Duration `json:"licensePollNs,omitempty"`
}

// Failure is the error the compensation records. Error/Cause are the
// names Step Functions gives a caught error; Step/Message are ours.
type Failure struct {
	Step    string `json:"step,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"Error,omitempty"`
	Cause   string `json:"Cause,omitempty"`
}

// Text is the message to record.
func (f Failure) Text() string {
	switch {
	case f.Message != "":
		return f.Message
	case f.Cause != "":
		// A Lambda error's cause is {"errorMessage": …, "errorType": …}.
		var c struct {
			Message string `json:"errorMessage"`
		}
		if json.Unmarshal([]byte(f.Cause), &c) == nil && c.Message != "" {
			return c.Message
		}
		return f.Cause
	case f.Error != "":
		return f.Error
	}
	return "provisioning failed"
}

// TransientError is worth retrying (throttling, a network blip, a version
// conflict that persisted).
type TransientError struct {
	Step string
	Err  error
}

func (e *TransientError) Error() string { return fmt.Sprintf("%s: transient: %v", e.Step, e.Err) }
func (e *TransientError) Unwrap() error { return e.Err }

// StepTimeout: a wait step ran out of time.
type StepTimeout struct {
	Step    string
	Timeout time.Duration
	Last    string // what was last seen
}

func (e *StepTimeout) Error() string {
	return fmt.Sprintf("%s: timed out after %s (%s)", e.Step, e.Timeout, e.Last)
}

// StepFailed: the step cannot succeed (bad settings, capacity in no
// subnet, the instance died, the worker was terminated meanwhile).
type StepFailed struct {
	Step string
	Err  error
}

func (e *StepFailed) Error() string { return fmt.Sprintf("%s: %v", e.Step, e.Err) }
func (e *StepFailed) Unwrap() error { return e.Err }

// ErrCancelled: the worker was terminated or removed while provisioning;
// the compensation still cleans up what was launched.
var ErrCancelled = errors.New("provisioning cancelled: the worker was terminated or removed")

// IsTransient reports whether err should be retried.
func IsTransient(err error) bool {
	var t *TransientError
	return errors.As(err, &t)
}

// errorName is the name Step Functions would see for err.
func errorName(err error) string {
	var (
		t  *TransientError
		to *StepTimeout
		f  *StepFailed
	)
	switch {
	case errors.As(err, &t):
		return ErrorTransient
	case errors.As(err, &to):
		return ErrorTimeout
	case errors.As(err, &f):
		return ErrorFailed
	}
	return ErrorAll
}
