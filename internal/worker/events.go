package worker

import (
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/idle"
)

// Event type names. Each payload's schema is events/schemas/<type>.json.
// A payload never carries a secret: the licence token appears only as
// "configured or not".
const (
	TypeCreated                       = "cml.worker.created.v1"
	TypeImported                      = "cml.worker.imported.v1"
	TypeInstanceAssigned              = "cml.worker.instance_assigned.v1"
	TypeEC2Observed                   = "cml.worker.ec2_observed.v1"
	TypeCMLObserved                   = "cml.worker.cml_observed.v1"
	TypeResumed                       = "cml.worker.resumed.v1"
	TypePaused                        = "cml.worker.paused.v1"
	TypeTerminationRequested          = "cml.worker.termination_requested.v1"
	TypeTerminated                    = "cml.worker.terminated.v1"
	TypeExternalChange                = "cml.worker.external_change_detected.v1"
	TypeProvisioningStep              = "cml.worker.provisioning_step_started.v1"
	TypeProvisioningFailed            = "cml.worker.provisioning_failed.v1"
	TypeProvisioningCompleted         = "cml.worker.provisioning_completed.v1"
	TypeLicenseTokenChanged           = "cml.worker.license_token_changed.v1"
	TypeLicenseRegistrationStarted    = "cml.worker.license_registration_started.v1"
	TypeLicenseRegistrationCompleted  = "cml.worker.license_registration_completed.v1"
	TypeLicenseRegistrationFailed     = "cml.worker.license_registration_failed.v1"
	TypeLicenseDeregistrationStarted  = "cml.worker.license_deregistration_started.v1"
	TypeLicenseDeregistrationComplete = "cml.worker.license_deregistration_completed.v1"
	TypeLicenseDeregistrationFailed   = "cml.worker.license_deregistration_failed.v1"
	TypeIdlePolicyChanged             = "cml.worker.idle_policy_changed.v1"
	TypeScheduleChanged               = "cml.worker.schedule_changed.v1"
	TypeIdleWarningIssued             = "cml.worker.idle_warning_issued.v1"
	TypeActivityRecorded              = "cml.worker.activity_recorded.v1"
	TypeTagsChanged                   = "cml.worker.tags_changed.v1"
	TypeRemoved                       = "cml.worker.removed.v1"
)

// Created: a worker was created and its provisioning begins.
type Created struct {
	Name                   string            `json:"name"`
	Region                 string            `json:"region"`
	InstanceType           string            `json:"instanceType"`
	AMIID                  string            `json:"amiId,omitempty"`
	AMIName                string            `json:"amiName,omitempty"`
	Tags                   map[string]string `json:"tags,omitempty"`
	DesiredPower           Power             `json:"desiredPower"`
	IdlePolicy             *idle.Policy      `json:"idlePolicy,omitempty"`
	Schedule               *Schedule         `json:"schedule,omitempty"`
	LicenseTokenConfigured bool              `json:"licenseTokenConfigured"`
}

// Imported: an existing EC2 instance became a worker.
type Imported struct {
	Name                   string            `json:"name"`
	Region                 string            `json:"region"`
	InstanceID             string            `json:"instanceId"`
	InstanceType           string            `json:"instanceType,omitempty"`
	AMIID                  string            `json:"amiId,omitempty"`
	AMIName                string            `json:"amiName,omitempty"`
	Tags                   map[string]string `json:"tags,omitempty"`
	State                  EC2State          `json:"state"`
	ObservedAt             time.Time         `json:"observedAt"`
	PublicIP               string            `json:"publicIp,omitempty"`
	PrivateIP              string            `json:"privateIp,omitempty"`
	Endpoint               string            `json:"endpoint,omitempty"`
	Status                 Status            `json:"status"`
	DesiredPower           Power             `json:"desiredPower"`
	IdlePolicy             *idle.Policy      `json:"idlePolicy,omitempty"`
	LicenseTokenConfigured bool              `json:"licenseTokenConfigured"`
}

// InstanceAssigned: the provisioning workflow launched the worker's instance.
type InstanceAssigned struct {
	InstanceID   string `json:"instanceId"`
	AMIID        string `json:"amiId,omitempty"`
	InstanceType string `json:"instanceType,omitempty"`
	PrivateIP    string `json:"privateIp,omitempty"`
}

// EC2Observed: EC2 reported the instance in a state (and, from a describe,
// its details). It carries the resulting EC2 facts and status, not a diff,
// so a reader of the history sees what was known at that point.
type EC2Observed struct {
	InstanceID     string      `json:"instanceId"`
	State          EC2State    `json:"state"`
	PreviousState  EC2State    `json:"previousState,omitempty"`
	ObservedAt     time.Time   `json:"observedAt"`
	Reason         string      `json:"reason,omitempty"`
	Status         Status      `json:"status"`
	PreviousStatus Status      `json:"previousStatus"`
	PublicIP       string      `json:"publicIp"`
	PrivateIP      string      `json:"privateIp"`
	Endpoint       string      `json:"endpoint"`
	SystemStatus   CheckStatus `json:"systemStatus"`
	InstanceStatus CheckStatus `json:"instanceStatus"`
	InstanceType   string      `json:"instanceType,omitempty"`
	AMIID          string      `json:"amiId,omitempty"`
}

// CMLObserved: the CML API of the worker reported a change in readiness,
// version, licence or service status. Changed names the fields that moved.
type CMLObserved struct {
	ObservedAt    time.Time     `json:"observedAt"`
	Ready         bool          `json:"ready"`
	Version       string        `json:"version,omitempty"`
	LicenseStatus LicenseStatus `json:"licenseStatus,omitempty"`
	ServiceStatus ServiceStatus `json:"serviceStatus"`
	Changed       []string      `json:"changed"`
}

// Resumed: someone (Auto=false) or the wake-up schedule (Auto=true) asked
// for the worker to run. Deferred means EC2 was not asked yet because the
// instance is still stopping; a reconciler starts it once it is stopped.
type Resumed struct {
	Reason     string `json:"reason,omitempty"`
	Auto       bool   `json:"auto"`
	FromStatus Status `json:"fromStatus"`
	Deferred   bool   `json:"deferred"`
}

// Paused: someone (Auto=false) or the idle policy (Auto=true) asked for the
// worker to stop (a pause keeps the instance and its disk). IdleMinutes is
// set for idle auto-pauses. Deferred: the instance is still pending; a
// reconciler stops it once it is running.
type Paused struct {
	Reason      string `json:"reason,omitempty"`
	Auto        bool   `json:"auto"`
	IdleMinutes int    `json:"idleMinutes,omitempty"`
	FromStatus  Status `json:"fromStatus"`
	Deferred    bool   `json:"deferred"`
}

// TerminationRequested: someone asked for the instance to be terminated.
type TerminationRequested struct {
	Reason     string `json:"reason,omitempty"`
	FromStatus Status `json:"fromStatus"`
}

// Terminated: the worker ended without an EC2 observation to say so,
// because it has no live instance (never launched, or already gone).
type Terminated struct {
	Reason string `json:"reason"`
}

// ExternalChangeDetected: a reconciler saw the instance in a state nobody
// asked for here (stopped or started in the console) and the desired power
// now follows what was seen.
type ExternalChangeDetected struct {
	ObservedState        EC2State `json:"observedState"`
	PreviousDesiredPower Power    `json:"previousDesiredPower"`
	DesiredPower         Power    `json:"desiredPower"`
	Note                 string   `json:"note,omitempty"`
}

// ProvisioningStepStarted: the provisioning workflow entered Step.
type ProvisioningStepStarted struct {
	Step         string `json:"step"`
	PreviousStep string `json:"previousStep,omitempty"`
}

// ProvisioningFailedEvent: the workflow gave up at Step with Error. (Named
// with a suffix because ProvisioningFailed is the provisioning state.)
type ProvisioningFailedEvent struct {
	Step  string `json:"step"`
	Error string `json:"error"`
}

// ProvisioningCompletedEvent: the workflow finished; the worker is ready.
type ProvisioningCompletedEvent struct {
	DurationSeconds int64 `json:"durationSeconds"`
}

// LicenseTokenChanged: a licence token was stored for the worker or
// deleted. The token itself lives in the secret store only.
type LicenseTokenChanged struct {
	Configured bool `json:"configured"`
}

// LicenseRegistrationStarted: the registration job began.
type LicenseRegistrationStarted struct {
	Reregister bool `json:"reregister"`
}

// LicenseRegistrationCompleted: CML reported the registration complete.
type LicenseRegistrationCompleted struct {
	Status         LicenseStatus `json:"status"`
	SmartAccount   string        `json:"smartAccount,omitempty"`
	VirtualAccount string        `json:"virtualAccount,omitempty"`
}

// LicenseRegistrationFailed: CML refused, failed or timed out.
type LicenseRegistrationFailed struct {
	Error string `json:"error"`
	Code  string `json:"code,omitempty"`
}

// LicenseDeregistrationStarted: the deregistration job began.
type LicenseDeregistrationStarted struct{}

// LicenseDeregistrationCompleted: the licence is released.
type LicenseDeregistrationCompleted struct {
	Message string `json:"message,omitempty"`
}

// LicenseDeregistrationFailed: the deregistration failed.
type LicenseDeregistrationFailed struct {
	Error string `json:"error"`
}

// IdlePolicyChanged: the worker's own idle policy; nil means it follows
// the fleet policy from the settings.
type IdlePolicyChanged struct {
	Policy *idle.Policy `json:"policy"`
}

// ScheduleChanged: the wake-up schedule; nil means none.
type ScheduleChanged struct {
	Schedule *Schedule `json:"schedule"`
}

// IdleWarningIssued: the worker will be paused at PauseAt unless there is
// activity before.
type IdleWarningIssued struct {
	IdleSince   time.Time `json:"idleSince"`
	PauseAt     time.Time `json:"pauseAt"`
	IdleMinutes int       `json:"idleMinutes"`
}

// ActivityRecorded: activity on the worker at At; a pending idle warning
// is withdrawn (the pause is snoozed).
type ActivityRecorded struct {
	At             time.Time `json:"at"`
	Source         string    `json:"source,omitempty"`
	WarningCleared bool      `json:"warningCleared"`
}

// TagsChanged: the user tags, in full (managed tags are never among them).
type TagsChanged struct {
	Tags map[string]string `json:"tags"`
}

// Removed: the worker left the fleet; its instance, if any, was left as is.
type Removed struct {
	Reason string `json:"reason,omitempty"`
}

func (*Created) EventType() string                        { return TypeCreated }
func (*Imported) EventType() string                       { return TypeImported }
func (*InstanceAssigned) EventType() string               { return TypeInstanceAssigned }
func (*EC2Observed) EventType() string                    { return TypeEC2Observed }
func (*CMLObserved) EventType() string                    { return TypeCMLObserved }
func (*Resumed) EventType() string                        { return TypeResumed }
func (*Paused) EventType() string                         { return TypePaused }
func (*TerminationRequested) EventType() string           { return TypeTerminationRequested }
func (*Terminated) EventType() string                     { return TypeTerminated }
func (*ExternalChangeDetected) EventType() string         { return TypeExternalChange }
func (*ProvisioningStepStarted) EventType() string        { return TypeProvisioningStep }
func (*ProvisioningFailedEvent) EventType() string        { return TypeProvisioningFailed }
func (*ProvisioningCompletedEvent) EventType() string     { return TypeProvisioningCompleted }
func (*LicenseTokenChanged) EventType() string            { return TypeLicenseTokenChanged }
func (*LicenseRegistrationStarted) EventType() string     { return TypeLicenseRegistrationStarted }
func (*LicenseRegistrationCompleted) EventType() string   { return TypeLicenseRegistrationCompleted }
func (*LicenseRegistrationFailed) EventType() string      { return TypeLicenseRegistrationFailed }
func (*LicenseDeregistrationStarted) EventType() string   { return TypeLicenseDeregistrationStarted }
func (*LicenseDeregistrationCompleted) EventType() string { return TypeLicenseDeregistrationComplete }
func (*LicenseDeregistrationFailed) EventType() string    { return TypeLicenseDeregistrationFailed }
func (*IdlePolicyChanged) EventType() string              { return TypeIdlePolicyChanged }
func (*ScheduleChanged) EventType() string                { return TypeScheduleChanged }
func (*IdleWarningIssued) EventType() string              { return TypeIdleWarningIssued }
func (*ActivityRecorded) EventType() string               { return TypeActivityRecorded }
func (*TagsChanged) EventType() string                    { return TypeTagsChanged }
func (*Removed) EventType() string                        { return TypeRemoved }

// Registry decodes every worker event.
var Registry = event.Registry{}

func init() {
	for _, f := range []func() event.Payload{
		func() event.Payload { return new(Created) },
		func() event.Payload { return new(Imported) },
		func() event.Payload { return new(InstanceAssigned) },
		func() event.Payload { return new(EC2Observed) },
		func() event.Payload { return new(CMLObserved) },
		func() event.Payload { return new(Resumed) },
		func() event.Payload { return new(Paused) },
		func() event.Payload { return new(TerminationRequested) },
		func() event.Payload { return new(Terminated) },
		func() event.Payload { return new(ExternalChangeDetected) },
		func() event.Payload { return new(ProvisioningStepStarted) },
		func() event.Payload { return new(ProvisioningFailedEvent) },
		func() event.Payload { return new(ProvisioningCompletedEvent) },
		func() event.Payload { return new(LicenseTokenChanged) },
		func() event.Payload { return new(LicenseRegistrationStarted) },
		func() event.Payload { return new(LicenseRegistrationCompleted) },
		func() event.Payload { return new(LicenseRegistrationFailed) },
		func() event.Payload { return new(LicenseDeregistrationStarted) },
		func() event.Payload { return new(LicenseDeregistrationCompleted) },
		func() event.Payload { return new(LicenseDeregistrationFailed) },
		func() event.Payload { return new(IdlePolicyChanged) },
		func() event.Payload { return new(ScheduleChanged) },
		func() event.Payload { return new(IdleWarningIssued) },
		func() event.Payload { return new(ActivityRecorded) },
		func() event.Payload { return new(TagsChanged) },
		func() event.Payload { return new(Removed) },
	} {
		Registry.Register(f)
	}
}
