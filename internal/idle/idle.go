// Package idle holds the idle policy: how long a worker may sit without
// activity before it is paused, how early people are warned, and how long a
// resume protects it. Both the worker aggregate (a per-worker override) and
// the fleet settings (the global policy) use it, so it lives in its own small
// package to keep either from importing the other.
package idle

import (
	"fmt"
	"time"
)

// Defaults of a policy, as the system we replace used them.
const (
	DefaultTimeoutMinutes = 60
	DefaultWarningMinutes = 10
	DefaultSnoozeMinutes  = 60

	// MaxMinutes bounds every duration of a policy (one week): a longer
	// timeout is "never", which Enabled=false says better.
	MaxMinutes = 7 * 24 * 60
)

// Policy decides when an idle worker is paused.
//
// JSON decoders of partial input should start from DefaultPolicy() so that
// omitted fields keep their defaults rather than becoming zero.
type Policy struct {
	// Enabled turns auto-pause on.
	Enabled bool `json:"enabled"`
	// TimeoutMinutes of no activity after which the worker is paused.
	TimeoutMinutes int `json:"timeoutMinutes"`
	// WarningMinutes before the pause an idle warning is issued; 0 pauses
	// without warning.
	WarningMinutes int `json:"warningMinutes"`
	// SnoozeMinutes after a resume during which no pause happens.
	SnoozeMinutes int `json:"snoozeMinutes"`
	// CPUThresholdPercent, when set, makes CPU above it count as activity.
	CPUThresholdPercent *float64 `json:"cpuThresholdPercent,omitempty"`
}

// DefaultPolicy is enabled, 60 minutes timeout, 10 minutes warning, 60
// minutes snooze, no CPU threshold.
func DefaultPolicy() Policy {
	return Policy{Enabled: true, TimeoutMinutes: DefaultTimeoutMinutes,
		WarningMinutes: DefaultWarningMinutes, SnoozeMinutes: DefaultSnoozeMinutes}
}

// FieldError names the field of a policy that is wrong and why.
type FieldError struct {
	Field  string // JSON name, e.g. "warningMinutes"
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("idle policy %s: %s", e.Field, e.Reason) }

// Validate returns a *FieldError for the first unusable field. A disabled
// policy is still validated: it keeps its values for when it is enabled.
func (p Policy) Validate() error {
	switch {
	case p.TimeoutMinutes < 1 || p.TimeoutMinutes > MaxMinutes:
		return &FieldError{"timeoutMinutes", fmt.Sprintf("must be between 1 and %d", MaxMinutes)}
	case p.WarningMinutes < 0:
		return &FieldError{"warningMinutes", "must not be negative"}
	case p.WarningMinutes >= p.TimeoutMinutes:
		return &FieldError{"warningMinutes", "must be less than timeoutMinutes"}
	case p.SnoozeMinutes < 0 || p.SnoozeMinutes > MaxMinutes:
		return &FieldError{"snoozeMinutes", fmt.Sprintf("must be between 0 and %d", MaxMinutes)}
	case p.CPUThresholdPercent != nil && (*p.CPUThresholdPercent <= 0 || *p.CPUThresholdPercent > 100):
		return &FieldError{"cpuThresholdPercent", "must be above 0 and at most 100"}
	}
	return nil
}

// Equal reports whether two policies are the same (the CPU threshold by value).
func (p Policy) Equal(q Policy) bool {
	if (p.CPUThresholdPercent == nil) != (q.CPUThresholdPercent == nil) {
		return false
	}
	if p.CPUThresholdPercent != nil && *p.CPUThresholdPercent != *q.CPUThresholdPercent {
		return false
	}
	return p.Enabled == q.Enabled && p.TimeoutMinutes == q.TimeoutMinutes &&
		p.WarningMinutes == q.WarningMinutes && p.SnoozeMinutes == q.SnoozeMinutes
}

// Clone returns a deep copy (the CPU threshold is a pointer).
func (p Policy) Clone() Policy {
	if p.CPUThresholdPercent != nil {
		v := *p.CPUThresholdPercent
		p.CPUThresholdPercent = &v
	}
	return p
}

// Timeout is TimeoutMinutes as a duration.
func (p Policy) Timeout() time.Duration { return time.Duration(p.TimeoutMinutes) * time.Minute }

// Warning is WarningMinutes as a duration.
func (p Policy) Warning() time.Duration { return time.Duration(p.WarningMinutes) * time.Minute }

// Snooze is SnoozeMinutes as a duration.
func (p Policy) Snooze() time.Duration { return time.Duration(p.SnoozeMinutes) * time.Minute }
