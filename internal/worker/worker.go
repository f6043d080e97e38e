// Package worker is the CML worker aggregate: one EC2 metal instance
// running a CML controller, as the fleet manages it.
//
// A worker holds a desired spec (name, region, instance type, AMI, user
// tags, desired power, idle policy, wake-up schedule, whether a licence
// token is configured) apart from what is observed (status, EC2 facts, CML
// facts), so a reconciler can act on the drift between them.
//
// Commands are methods. Each checks its invariants against the current
// state and either records events through event.Root.Record or returns a
// *TransitionError (the state forbids it; HTTP 409) or a *ValidationError
// (bad input; HTTP 400). A command that would change nothing records
// nothing. The unexported apply is the only code that changes the state; it
// runs for new events and for replayed ones alike.
//
// Two kinds of commands differ on a terminated or removed worker:
// intentions (start, stop, tags, licence…) are rejected with ErrTerminated
// or ErrRemoved, while observations (EC2 state, CML status, activity) are
// silently ignored, so that duplicate or late deliveries from EC2 and the
// monitors are harmless.
package worker

import (
	"encoding/json"
	"fmt"
	"maps"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/idle"
)

// AggregateType is the event.Root aggregate type of workers.
const AggregateType = "worker"

// SnapshotSchema is the version of the snapshot state layout. Bump it when
// the state struct changes incompatibly: older snapshots are then ignored
// and workers are rebuilt from their events.
const SnapshotSchema = 1

// Worker is the aggregate. The zero value is not usable; call New.
type Worker struct {
	event.Root
	s state
}

// New returns an empty worker with the given id, ready for Create or
// Import, or to be loaded from its history.
func New(id string) *Worker {
	w := &Worker{}
	w.Init(AggregateType, id)
	return w
}

// state is everything the worker knows; it is also the snapshot layout.
type state struct {
	Created bool `json:"created"`
	Removed bool `json:"removed,omitempty"`

	// Spec.
	Name                   string            `json:"name"`
	Region                 string            `json:"region"`
	InstanceType           string            `json:"instanceType"`
	AMIID                  string            `json:"amiId,omitempty"`
	AMIName                string            `json:"amiName,omitempty"`
	Tags                   map[string]string `json:"tags,omitempty"`
	DesiredPower           Power             `json:"desiredPower"`
	IdlePolicy             *idle.Policy      `json:"idlePolicy,omitempty"`
	Schedule               *Schedule         `json:"schedule,omitempty"`
	LicenseTokenConfigured bool              `json:"licenseTokenConfigured,omitempty"`

	// Observed.
	Status       Status       `json:"status"`
	Imported     bool         `json:"imported,omitempty"`
	InstanceID   string       `json:"instanceId,omitempty"`
	PublicIP     string       `json:"publicIp,omitempty"`
	PrivateIP    string       `json:"privateIp,omitempty"`
	Endpoint     string       `json:"endpoint,omitempty"`
	EC2          ec2Facts     `json:"ec2"`
	CML          cmlFacts     `json:"cml"`
	Provisioning provisioning `json:"provisioning"`
	Activity     activity     `json:"activity"`
	Request      powerRequest `json:"request"`

	// Lifecycle.
	CreatedAt              time.Time `json:"createdAt,omitzero"`
	CreatedBy              string    `json:"createdBy,omitempty"`
	UpdatedAt              time.Time `json:"updatedAt,omitzero"`
	TerminationRequestedBy string    `json:"terminationRequestedBy,omitempty"`
	TerminatedAt           time.Time `json:"terminatedAt,omitzero"`
	TerminatedBy           string    `json:"terminatedBy,omitempty"`
	RemovedAt              time.Time `json:"removedAt,omitzero"`
	RemovedBy              string    `json:"removedBy,omitempty"`
}

type ec2Facts struct {
	State          EC2State    `json:"state,omitempty"`
	ObservedAt     time.Time   `json:"observedAt,omitzero"`
	Reason         string      `json:"reason,omitempty"`
	SystemStatus   CheckStatus `json:"systemStatus,omitempty"`
	InstanceStatus CheckStatus `json:"instanceStatus,omitempty"`
	// RunningSince is when EC2 last saw the instance enter running; cost
	// and idle accounting start from it.
	RunningSince time.Time `json:"runningSince,omitzero"`
}

type cmlFacts struct {
	Ready              bool             `json:"ready,omitempty"`
	Version            string           `json:"version,omitempty"`
	LicenseStatus      LicenseStatus    `json:"licenseStatus,omitempty"`
	ServiceStatus      ServiceStatus    `json:"serviceStatus,omitempty"`
	ObservedAt         time.Time        `json:"observedAt,omitzero"`
	LicenseOperation   LicenseOperation `json:"licenseOperation,omitempty"`
	LicenseOpStartedAt time.Time        `json:"licenseOpStartedAt,omitzero"`
	LicenseError       string           `json:"licenseError,omitempty"`
}

type provisioning struct {
	State         ProvisioningState `json:"state,omitempty"`
	Step          string            `json:"step,omitempty"`
	StartedAt     time.Time         `json:"startedAt,omitzero"`
	StepStartedAt time.Time         `json:"stepStartedAt,omitzero"`
	CompletedAt   time.Time         `json:"completedAt,omitzero"`
	Error         string            `json:"error,omitempty"`
	FailedStep    string            `json:"failedStep,omitempty"`
}

type activity struct {
	LastActivityAt       time.Time `json:"lastActivityAt,omitzero"`
	WarningIssuedAt      time.Time `json:"warningIssuedAt,omitzero"`
	PauseAt              time.Time `json:"pauseAt,omitzero"`
	WarnedIdleSince      time.Time `json:"warnedIdleSince,omitzero"`
	AutoPauseCount       int       `json:"autoPauseCount,omitempty"`
	ManualPauseCount     int       `json:"manualPauseCount,omitempty"`
	AutoResumeCount      int       `json:"autoResumeCount,omitempty"`
	ManualResumeCount    int       `json:"manualResumeCount,omitempty"`
	LastPausedAt         time.Time `json:"lastPausedAt,omitzero"`
	LastPausedBy         string    `json:"lastPausedBy,omitempty"`
	LastPauseReason      string    `json:"lastPauseReason,omitempty"`
	LastPauseAuto        bool      `json:"lastPauseAuto,omitempty"`
	LastPauseIdleMinutes int       `json:"lastPauseIdleMinutes,omitempty"`
	LastResumedAt        time.Time `json:"lastResumedAt,omitzero"`
	LastResumedBy        string    `json:"lastResumedBy,omitempty"`
	LastResumeReason     string    `json:"lastResumeReason,omitempty"`
	LastResumeAuto       bool      `json:"lastResumeAuto,omitempty"`
}

// powerRequest is the last start/stop/terminate that changed the status
// ahead of EC2 (optimistically). EC2 observations older than it cannot
// undo it, so a describe made before a stop cannot flip "stopping" back.
type powerRequest struct {
	Op string    `json:"op,omitempty"` // "start", "stop", "terminate"
	At time.Time `json:"at,omitzero"`
}

// consistent reports whether an observed state goes the way the request did.
func (r powerRequest) consistent(s EC2State) bool {
	switch r.Op {
	case "start":
		return s == EC2Pending || s == EC2Running
	case "stop":
		return s == EC2Stopping || s == EC2Stopped
	case "terminate":
		return s == EC2ShuttingDown || s == EC2Terminated
	}
	return true
}

// apply is the only code that changes the state.
func (w *Worker) apply(e event.Event, p event.Payload) {
	s := &w.s
	s.UpdatedAt = e.Time
	switch p := p.(type) {
	case *Created:
		s.Created = true
		s.Name, s.Region, s.InstanceType = p.Name, p.Region, p.InstanceType
		s.AMIID, s.AMIName = p.AMIID, p.AMIName
		s.Tags = cloneTags(p.Tags)
		s.DesiredPower = p.DesiredPower
		s.IdlePolicy = clonePolicy(p.IdlePolicy)
		s.Schedule = p.Schedule.clone()
		s.LicenseTokenConfigured = p.LicenseTokenConfigured
		s.Status = StatusProvisioning
		s.CML.ServiceStatus = ServiceUnavailable
		s.Provisioning = provisioning{State: ProvisioningInProgress, StartedAt: e.Time}
		s.CreatedAt, s.CreatedBy = e.Time, e.Actor

	case *Imported:
		s.Created, s.Imported = true, true
		s.Name, s.Region, s.InstanceType = p.Name, p.Region, p.InstanceType
		s.AMIID, s.AMIName = p.AMIID, p.AMIName
		s.Tags = cloneTags(p.Tags)
		s.DesiredPower = p.DesiredPower
		s.IdlePolicy = clonePolicy(p.IdlePolicy)
		s.LicenseTokenConfigured = p.LicenseTokenConfigured
		s.InstanceID = p.InstanceID
		s.PublicIP, s.PrivateIP, s.Endpoint = p.PublicIP, p.PrivateIP, p.Endpoint
		s.Status = p.Status
		s.EC2 = ec2Facts{State: p.State, ObservedAt: p.ObservedAt}
		if p.State == EC2Running {
			s.EC2.RunningSince = p.ObservedAt
		}
		s.CML.ServiceStatus = ServiceUnavailable
		s.CreatedAt, s.CreatedBy = e.Time, e.Actor

	case *InstanceAssigned:
		s.InstanceID = p.InstanceID
		if p.AMIID != "" {
			s.AMIID = p.AMIID
		}
		if p.InstanceType != "" {
			s.InstanceType = p.InstanceType
		}
		if p.PrivateIP != "" {
			s.PrivateIP = p.PrivateIP
		}

	case *EC2Observed:
		if p.State == EC2Running && s.EC2.State != EC2Running {
			s.EC2.RunningSince = p.ObservedAt
		} else if p.State != EC2Running {
			s.EC2.RunningSince = time.Time{}
		}
		s.EC2.State, s.EC2.ObservedAt, s.EC2.Reason = p.State, p.ObservedAt, p.Reason
		s.EC2.SystemStatus, s.EC2.InstanceStatus = p.SystemStatus, p.InstanceStatus
		s.PublicIP, s.PrivateIP, s.Endpoint = p.PublicIP, p.PrivateIP, p.Endpoint
		if p.InstanceType != "" {
			s.InstanceType = p.InstanceType
		}
		if p.AMIID != "" {
			s.AMIID = p.AMIID
		}
		if p.State != EC2Running {
			// CML cannot answer on an instance that is not running; an
			// idle warning is moot once the instance is not running.
			s.CML.Ready, s.CML.ServiceStatus = false, ServiceUnavailable
			s.clearWarning()
		}
		s.Status = p.Status
		if p.State == EC2Terminated && p.Status == StatusTerminated {
			s.TerminatedAt = p.ObservedAt
			s.TerminatedBy = s.TerminationRequestedBy
			if s.TerminatedBy == "" {
				s.TerminatedBy = e.Actor // terminated outside the product
			}
		}

	case *CMLObserved:
		s.CML.ObservedAt = p.ObservedAt
		s.CML.Ready, s.CML.ServiceStatus = p.Ready, p.ServiceStatus
		if p.Version != "" {
			s.CML.Version = p.Version
		}
		if p.LicenseStatus != "" {
			s.CML.LicenseStatus = p.LicenseStatus
		}

	case *Resumed:
		if s.DesiredPower != PowerRunning {
			if p.Auto {
				s.Activity.AutoResumeCount++
			} else {
				s.Activity.ManualResumeCount++
			}
			a := &s.Activity
			a.LastResumedAt, a.LastResumedBy, a.LastResumeReason, a.LastResumeAuto = e.Time, e.Actor, p.Reason, p.Auto
		}
		s.DesiredPower = PowerRunning
		if p.FromStatus == StatusStopped {
			s.Status = StatusPending
			s.Request = powerRequest{Op: "start", At: e.Time}
		}
		s.clearWarning()

	case *Paused:
		if s.DesiredPower != PowerStopped {
			if p.Auto {
				s.Activity.AutoPauseCount++
			} else {
				s.Activity.ManualPauseCount++
			}
			a := &s.Activity
			a.LastPausedAt, a.LastPausedBy, a.LastPauseReason, a.LastPauseAuto = e.Time, e.Actor, p.Reason, p.Auto
			a.LastPauseIdleMinutes = p.IdleMinutes
		}
		s.DesiredPower = PowerStopped
		if p.FromStatus == StatusRunning {
			s.Status = StatusStopping
			s.Request = powerRequest{Op: "stop", At: e.Time}
		}
		s.clearWarning()

	case *TerminationRequested:
		s.DesiredPower = PowerTerminated
		s.Status = StatusShuttingDown
		s.Request = powerRequest{Op: "terminate", At: e.Time}
		s.TerminationRequestedBy = e.Actor
		if s.Provisioning.State == ProvisioningInProgress {
			s.Provisioning.State = ProvisioningCancelled
		}
		s.clearWarning()

	case *Terminated:
		s.DesiredPower = PowerTerminated
		s.Status = StatusTerminated
		s.TerminatedAt, s.TerminatedBy = e.Time, e.Actor
		if s.Provisioning.State == ProvisioningInProgress {
			s.Provisioning.State = ProvisioningCancelled
		}
		s.clearWarning()

	case *ExternalChangeDetected:
		s.DesiredPower = p.DesiredPower

	case *ProvisioningStepStarted:
		if s.Provisioning.State != ProvisioningInProgress {
			// An imported worker joining the workflow.
			s.Provisioning = provisioning{State: ProvisioningInProgress, StartedAt: e.Time}
		}
		s.Provisioning.Step, s.Provisioning.StepStartedAt = p.Step, e.Time

	case *ProvisioningFailedEvent:
		s.Provisioning.State = ProvisioningFailed
		s.Provisioning.FailedStep, s.Provisioning.Error = p.Step, p.Error
		s.Provisioning.Step, s.Provisioning.StepStartedAt = "", time.Time{}
		s.Provisioning.CompletedAt = e.Time
		s.Status = StatusFailed

	case *ProvisioningCompletedEvent:
		s.Provisioning.State = ProvisioningCompleted
		s.Provisioning.Step, s.Provisioning.StepStartedAt = "", time.Time{}
		s.Provisioning.CompletedAt = e.Time

	case *LicenseTokenChanged:
		s.LicenseTokenConfigured = p.Configured

	case *LicenseRegistrationStarted:
		s.CML.LicenseOperation, s.CML.LicenseOpStartedAt, s.CML.LicenseError = LicenseRegistering, e.Time, ""

	case *LicenseRegistrationCompleted:
		s.CML.LicenseOperation, s.CML.LicenseOpStartedAt = "", time.Time{}
		s.CML.LicenseStatus = p.Status

	case *LicenseRegistrationFailed:
		s.CML.LicenseOperation, s.CML.LicenseOpStartedAt = "", time.Time{}
		s.CML.LicenseError = p.Error

	case *LicenseDeregistrationStarted:
		s.CML.LicenseOperation, s.CML.LicenseOpStartedAt, s.CML.LicenseError = LicenseDeregistering, e.Time, ""

	case *LicenseDeregistrationCompleted:
		s.CML.LicenseOperation, s.CML.LicenseOpStartedAt = "", time.Time{}
		s.CML.LicenseStatus = LicenseUnregistered

	case *LicenseDeregistrationFailed:
		s.CML.LicenseOperation, s.CML.LicenseOpStartedAt = "", time.Time{}
		s.CML.LicenseError = p.Error

	case *IdlePolicyChanged:
		s.IdlePolicy = clonePolicy(p.Policy)

	case *ScheduleChanged:
		s.Schedule = p.Schedule.clone()

	case *IdleWarningIssued:
		s.Activity.WarningIssuedAt, s.Activity.PauseAt, s.Activity.WarnedIdleSince = e.Time, p.PauseAt, p.IdleSince

	case *ActivityRecorded:
		if p.At.After(s.Activity.LastActivityAt) {
			s.Activity.LastActivityAt = p.At
		}
		s.clearWarning()

	case *TagsChanged:
		s.Tags = cloneTags(p.Tags)

	case *Removed:
		s.Removed = true
		s.RemovedAt, s.RemovedBy = e.Time, e.Actor
	}
}

func (s *state) clearWarning() {
	s.Activity.WarningIssuedAt, s.Activity.PauseAt, s.Activity.WarnedIdleSince = time.Time{}, time.Time{}, time.Time{}
}

// cloneTags copies tags; an empty map becomes nil so that state built from
// a recorded payload equals state built from its JSON (which omits it).
func cloneTags(t map[string]string) map[string]string {
	if len(t) == 0 {
		return nil
	}
	return maps.Clone(t)
}

func clonePolicy(p *idle.Policy) *idle.Policy {
	if p == nil {
		return nil
	}
	c := p.Clone()
	return &c
}

// ReplayEvent implements eventstore.Aggregate.
func (w *Worker) ReplayEvent(e event.Event) error { return w.Replay(e, Registry, w.apply) }

// SnapshotState implements eventstore.Aggregate.
func (w *Worker) SnapshotState() (int, json.RawMessage, error) {
	b, err := json.Marshal(w.s)
	if err != nil {
		return 0, nil, fmt.Errorf("snapshot worker %s: %w", w.AggregateID(), err)
	}
	return SnapshotSchema, b, nil
}

// RestoreSnapshot implements eventstore.Aggregate. A snapshot of another
// schema returns event.ErrSnapshotSchema (which is
// eventstore.ErrSnapshotSchema) so the repository replays the history.
func (w *Worker) RestoreSnapshot(schema int, version int64, data json.RawMessage) error {
	if schema != SnapshotSchema {
		return fmt.Errorf("worker %s snapshot schema %d, want %d: %w", w.AggregateID(), schema, SnapshotSchema, event.ErrSnapshotSchema)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("worker %s snapshot: %w", w.AggregateID(), err)
	}
	w.s = s
	w.SetVersion(version)
	return nil
}

// Accessors for callers that decide (the API, the automation).

// Exists reports whether the worker was created or imported.
func (w *Worker) Exists() bool { return w.s.Created }

// Removed reports whether the worker was removed from the fleet.
func (w *Worker) Removed() bool { return w.s.Removed }

// Status is the observed status.
func (w *Worker) Status() Status { return w.s.Status }

// DesiredPower is the desired power state.
func (w *Worker) DesiredPower() Power { return w.s.DesiredPower }

// Name is the worker's display name.
func (w *Worker) Name() string { return w.s.Name }

// Region is the AWS region of the worker.
func (w *Worker) Region() string { return w.s.Region }

// InstanceID is the EC2 instance id, empty before launch.
func (w *Worker) InstanceID() string { return w.s.InstanceID }

// InstanceType is the EC2 instance type.
func (w *Worker) InstanceType() string { return w.s.InstanceType }

// EC2State is the last observed EC2 state, empty if never observed.
func (w *Worker) EC2State() EC2State { return w.s.EC2.State }

// Endpoint is the base URL of the worker's CML API, empty when unknown.
func (w *Worker) Endpoint() string { return w.s.Endpoint }

// Tags returns a copy of the user tags.
func (w *Worker) Tags() map[string]string { return maps.Clone(w.s.Tags) }

// IdlePolicy returns the worker's own idle policy, or nil when it follows
// the fleet policy.
func (w *Worker) IdlePolicy() *idle.Policy { return clonePolicy(w.s.IdlePolicy) }

// Schedule returns the wake-up schedule, or nil.
func (w *Worker) Schedule() *Schedule { return w.s.Schedule.clone() }

// Provisioning reports the provisioning state ("" for imported workers
// that never ran the workflow).
func (w *Worker) Provisioning() ProvisioningState { return w.s.Provisioning.State }

// LicenseTokenConfigured reports whether a licence token is stored.
func (w *Worker) LicenseTokenConfigured() bool { return w.s.LicenseTokenConfigured }

// LicenseOperation is the licence job in progress, if any.
func (w *Worker) LicenseOperation() LicenseOperation { return w.s.CML.LicenseOperation }

// CMLReady reports whether the CML API last reported ready.
func (w *Worker) CMLReady() bool { return w.s.CML.Ready }

// RunningSince is when EC2 last saw the instance enter running (zero when
// not running).
func (w *Worker) RunningSince() time.Time { return w.s.EC2.RunningSince }
