package worker

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every *TransitionError matches ErrTransition (→ HTTP 409)
// and every *ValidationError matches ErrInvalid (→ HTTP 400) under
// errors.Is; the more specific sentinels say why, for callers that treat a
// case differently (e.g. ErrAlreadyInState as an idempotent success).
var (
	// ErrTransition: the command is not allowed in the worker's state.
	ErrTransition = errors.New("illegal worker transition")
	// ErrInvalid: the command's input is malformed.
	ErrInvalid = errors.New("invalid worker input")

	// ErrNotCreated: the aggregate has no history (a programming error:
	// the repository reports unknown ids before a command runs).
	ErrNotCreated = errors.New("worker does not exist")
	// ErrExists: Create or Import on a worker that already exists.
	ErrExists = errors.New("worker already exists")
	// ErrTerminated: the worker is terminated; it accepts nothing but Remove.
	ErrTerminated = errors.New("worker is terminated")
	// ErrRemoved: the worker was removed from the fleet.
	ErrRemoved = errors.New("worker is removed")
	// ErrAlreadyInState: the request asks for what the worker already
	// does (start a running worker, stop a stopped one). Scripts that want
	// "ensure running" semantics can treat it as success.
	ErrAlreadyInState = errors.New("worker is already in the requested state")
	// ErrProvisioning: the provisioning workflow owns the worker's power
	// state until it completes or fails.
	ErrProvisioning = errors.New("worker is being provisioned")
	// ErrFailed: the worker's provisioning failed; terminate or remove it.
	ErrFailed = errors.New("worker provisioning failed")
	// ErrNoInstance: the command needs an EC2 instance and there is none.
	ErrNoInstance = errors.New("worker has no instance")
	// ErrNotRunning: the command needs a running worker.
	ErrNotRunning = errors.New("worker is not running")
	// ErrLicenseBusy: another licence operation is in progress.
	ErrLicenseBusy = errors.New("licence operation in progress")
	// ErrNotIdle: an auto-pause was decided on stale data (activity since).
	ErrNotIdle = errors.New("worker is not idle")
	// ErrIdleDisabled: the worker's own idle policy disables auto-pause.
	ErrIdleDisabled = errors.New("auto-pause disabled for this worker")
	// ErrManagedTag: a tag key is reserved for the product (cmlcm:*, Name, aws:*).
	ErrManagedTag = errors.New("managed tag")
)

// TransitionError rejects a command because of the worker's state.
type TransitionError struct {
	Op     string // the command, e.g. "stop"
	From   Status // the worker's status when it was rejected ("" before creation)
	Reason string // why, for people
	Err    error  // a sentinel above, for programs
}

func (e *TransitionError) Error() string {
	from := string(e.From)
	if from == "" {
		from = "new"
	}
	return fmt.Sprintf("cannot %s a %s worker: %s", e.Op, from, e.Reason)
}

// Unwrap lets errors.Is match both ErrTransition and the specific sentinel.
func (e *TransitionError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrTransition}
	}
	return []error{ErrTransition, e.Err}
}

// ValidationError rejects malformed input.
type ValidationError struct {
	Field  string // JSON path of the field, e.g. "tags.cmlcm:managed"
	Reason string
	Err    error // optional specific sentinel (ErrManagedTag)
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return "invalid worker input: " + e.Reason
	}
	return fmt.Sprintf("invalid worker input: %s %s", e.Field, e.Reason)
}

// Unwrap lets errors.Is match both ErrInvalid and the specific sentinel.
func (e *ValidationError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }

func (w *Worker) reject(op string, sentinel error, format string, args ...any) error {
	return &TransitionError{Op: op, From: w.s.Status, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}
