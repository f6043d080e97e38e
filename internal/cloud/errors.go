package cloud

import (
	"errors"
	"fmt"
)

// Error classes callers branch on with errors.Is. The concrete error is an
// *Error carrying the provider's code and message.
var (
	// ErrThrottled: the provider rate-limited us even after the SDK's
	// retries; try again later.
	ErrThrottled = errors.New("throttled")
	// ErrCapacity: no capacity for the instance type in any subnet tried.
	ErrCapacity = errors.New("insufficient capacity")
	// ErrNotFound: the instance (or AMI) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrInvalidConfig: the request can never succeed as configured (bad
	// AMI, subnet, permission, parameter): fail fast, show the message.
	ErrInvalidConfig = errors.New("invalid configuration")
	// ErrInvalidState: the instance is not in a state that allows the
	// operation (e.g. starting a terminated instance).
	ErrInvalidState = errors.New("invalid instance state")
)

// Error is a classified provider error.
type Error struct {
	Kind    error  // one of the Err* classes; nil when unclassified
	Op      string // our operation or the AWS API name, e.g. "RunInstances"
	Code    string // provider error code, e.g. "InsufficientInstanceCapacity"
	Message string // provider message, verbatim
	Err     error  // underlying error, if any
}

func (e *Error) Error() string {
	kind := "error"
	if e.Kind != nil {
		kind = e.Kind.Error()
	}
	switch {
	case e.Code != "" && e.Message != "":
		return fmt.Sprintf("%s: %s: %s: %s", e.Op, kind, e.Code, e.Message)
	case e.Message != "":
		return fmt.Sprintf("%s: %s: %s", e.Op, kind, e.Message)
	case e.Err != nil:
		return fmt.Sprintf("%s: %s: %v", e.Op, kind, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Op, kind)
}

// Unwrap exposes both the class and the cause to errors.Is / errors.As.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}
