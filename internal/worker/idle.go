package worker

import (
	"time"

	"github.com/cmlcm/cmlcm/internal/idle"
)

// IdleAction is what the idle policy asks for at a given time.
type IdleAction string

// Idle actions.
const (
	IdleNone  IdleAction = "none"
	IdleWarn  IdleAction = "warn"  // call IssueIdleWarning(IdleSince, PauseAt)
	IdlePause IdleAction = "pause" // call AutoPause(minutes idle)
)

// IdleState is the idle evaluation of a worker at a moment.
type IdleState struct {
	Policy      idle.Policy // the effective policy
	FleetPolicy bool        // the policy is the fleet's (the worker has none of its own)
	// Monitored: the worker runs, should run, is not being provisioned and
	// its policy is enabled, so its idle clock runs.
	Monitored     bool
	IdleSince     time.Time     // last activity, or when it started running
	IdleFor       time.Duration // now - IdleSince
	SnoozedUntil  time.Time     // last resume + snooze; zero when never resumed
	WarningIssued bool
	// PauseAt is when the pause is due: the warned time when a warning is
	// pending, else the later of IdleSince+timeout and SnoozedUntil (moved
	// to now+warning when the warning is late, so people always get the
	// full warning period).
	PauseAt time.Time
	Action  IdleAction
}

// idleReference is the start of the current idle period: the latest of the
// last activity, the moment EC2 saw the instance running, and the creation.
func (w *Worker) idleReference() time.Time {
	s := &w.s
	ref := s.CreatedAt
	if s.EC2.RunningSince.After(ref) {
		ref = s.EC2.RunningSince
	}
	if s.Activity.LastActivityAt.After(ref) {
		ref = s.Activity.LastActivityAt
	}
	return ref
}

// IdleState evaluates the idle policy at now. fleet is the global policy
// from the settings; the worker's own policy, when set, overrides it. The
// monitor calls it inside its decide function, so the decision is taken
// again on the fresh state when a concurrent command wins the race.
func (w *Worker) IdleState(now time.Time, fleet idle.Policy) IdleState {
	s := &w.s
	st := IdleState{Policy: fleet.Clone(), FleetPolicy: true, Action: IdleNone}
	if s.IdlePolicy != nil {
		st.Policy, st.FleetPolicy = s.IdlePolicy.Clone(), false
	}
	if !s.Created || s.Removed || s.Status != StatusRunning || s.DesiredPower != PowerRunning ||
		s.Provisioning.State == ProvisioningInProgress || !st.Policy.Enabled {
		return st
	}
	st.Monitored = true
	st.IdleSince = w.idleReference()
	st.IdleFor = max(now.Sub(st.IdleSince), 0)
	if !s.Activity.LastResumedAt.IsZero() {
		st.SnoozedUntil = s.Activity.LastResumedAt.Add(st.Policy.Snooze())
	}
	due := st.IdleSince.Add(st.Policy.Timeout())
	if st.SnoozedUntil.After(due) {
		due = st.SnoozedUntil
	}
	if !s.Activity.PauseAt.IsZero() {
		st.WarningIssued, st.PauseAt = true, s.Activity.PauseAt
		if !now.Before(st.PauseAt) {
			st.Action = IdlePause
		}
		return st
	}
	st.PauseAt = due
	switch {
	case st.Policy.WarningMinutes == 0:
		if !now.Before(due) {
			st.Action = IdlePause
		}
	case !now.Before(due.Add(-st.Policy.Warning())):
		st.Action = IdleWarn
		if late := now.Add(st.Policy.Warning()); late.After(due) {
			st.PauseAt = late
		}
	}
	return st
}

// Drift compares the desired power with the observed status.
type Drift struct {
	Desired  Power
	Observed Status
	EC2State EC2State
	// Drifting: a reconciler should act (start a stopped worker that should
	// run, stop a running one that should be stopped, terminate one that
	// should be gone). Transitional states (pending, stopping) are not
	// drift: they are either converging or waiting for a deferred request
	// to become possible. Workers being provisioned, failed or terminated
	// never drift: the workflow or a person owns them.
	Drifting bool
}

// Drift reports the difference between desired power and observed status.
func (w *Worker) Drift() Drift {
	s := &w.s
	d := Drift{Desired: s.DesiredPower, Observed: s.Status, EC2State: s.EC2.State}
	if !s.Created || s.Removed || s.Provisioning.State == ProvisioningInProgress {
		return d
	}
	switch s.Status {
	case StatusRunning:
		d.Drifting = s.DesiredPower != PowerRunning
	case StatusStopped:
		d.Drifting = s.DesiredPower != PowerStopped
	case StatusPending, StatusStopping:
		d.Drifting = s.DesiredPower == PowerTerminated
	}
	return d
}
