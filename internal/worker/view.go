package worker

import (
	"maps"
	"time"

	"github.com/cmlcm/cmlcm/internal/idle"
)

// View is the worker as the read model stores it and the API shows it
// (camelCase JSON). Every key is always present, so clients see one shape:
// unknown strings are "", unknown times null. Telemetry (metrics) and cost
// are not part of it: the API adds them from the telemetry store and the
// settings' prices.
type View struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Region       string            `json:"region"`
	InstanceType string            `json:"instanceType"`
	AMIID        string            `json:"amiId"`
	AMIName      string            `json:"amiName"`
	Status       Status            `json:"status"`
	DesiredPower Power             `json:"desiredPower"`
	InstanceID   string            `json:"instanceId"`
	PublicIP     string            `json:"publicIp"`
	PrivateIP    string            `json:"privateIp"`
	Endpoint     string            `json:"endpoint"`
	Imported     bool              `json:"imported"`
	Tags         map[string]string `json:"tags"`
	CML          CMLView           `json:"cml"`
	Idle         IdleView          `json:"idle"`
	Provisioning ProvisioningView  `json:"provisioning"`
	EC2          EC2View           `json:"ec2"`
	Activity     ActivityView      `json:"activity"`
	Schedule     *Schedule         `json:"schedule"`
	CreatedAt    *time.Time        `json:"createdAt"`
	CreatedBy    string            `json:"createdBy"`
	UpdatedAt    *time.Time        `json:"updatedAt"`
	TerminatedAt *time.Time        `json:"terminatedAt"`
	TerminatedBy string            `json:"terminatedBy"`
	Version      int64             `json:"version"`
}

// CMLView is what the worker's CML reported. The licence token is never
// shown, only whether one is configured.
type CMLView struct {
	Ready                  bool             `json:"ready"`
	Version                string           `json:"version"`
	LicenseStatus          LicenseStatus    `json:"licenseStatus"`
	ServiceStatus          ServiceStatus    `json:"serviceStatus"`
	LicenseTokenConfigured bool             `json:"licenseTokenConfigured"`
	LicenseOperation       LicenseOperation `json:"licenseOperation"`
	LicenseError           string           `json:"licenseError"`
	ObservedAt             *time.Time       `json:"observedAt"`
}

// IdleView is the idle policy and where the idle clock stands. Policy is
// null when the worker follows the fleet policy. IdleSince is set while
// the worker runs and should run; PauseAt only once a warning is issued
// (the due time depends on the fleet policy, which the API can evaluate
// with Worker.IdleState).
type IdleView struct {
	Policy          *idle.Policy `json:"policy"`
	LastActivityAt  *time.Time   `json:"lastActivityAt"`
	IdleSince       *time.Time   `json:"idleSince"`
	WarningIssuedAt *time.Time   `json:"warningIssuedAt"`
	PauseAt         *time.Time   `json:"pauseAt"`
}

// ProvisioningView is the provisioning workflow's progress.
type ProvisioningView struct {
	State         ProvisioningState `json:"state"`
	Step          string            `json:"step"`
	StartedAt     *time.Time        `json:"startedAt"`
	StepStartedAt *time.Time        `json:"stepStartedAt"`
	CompletedAt   *time.Time        `json:"completedAt"`
	Error         string            `json:"error"`
	FailedStep    string            `json:"failedStep"`
}

// EC2View is what EC2 last reported.
type EC2View struct {
	State          EC2State    `json:"state"`
	ObservedAt     *time.Time  `json:"observedAt"`
	Reason         string      `json:"reason"`
	SystemStatus   CheckStatus `json:"systemStatus"`
	InstanceStatus CheckStatus `json:"instanceStatus"`
	RunningSince   *time.Time  `json:"runningSince"`
}

// ActivityView counts pauses and resumes and tells the last of each.
type ActivityView struct {
	AutoPauseCount       int        `json:"autoPauseCount"`
	ManualPauseCount     int        `json:"manualPauseCount"`
	AutoResumeCount      int        `json:"autoResumeCount"`
	ManualResumeCount    int        `json:"manualResumeCount"`
	LastPausedAt         *time.Time `json:"lastPausedAt"`
	LastPausedBy         string     `json:"lastPausedBy"`
	LastPauseReason      string     `json:"lastPauseReason"`
	LastPauseAuto        bool       `json:"lastPauseAuto"`
	LastPauseIdleMinutes int        `json:"lastPauseIdleMinutes"`
	LastResumedAt        *time.Time `json:"lastResumedAt"`
	LastResumedBy        string     `json:"lastResumedBy"`
	LastResumeReason     string     `json:"lastResumeReason"`
	LastResumeAuto       bool       `json:"lastResumeAuto"`
}

// View returns the worker's representation.
func (w *Worker) View() View {
	s := &w.s
	tags := maps.Clone(s.Tags)
	if tags == nil {
		tags = map[string]string{}
	}
	v := View{
		ID: w.AggregateID(), Name: s.Name, Region: s.Region, InstanceType: s.InstanceType,
		AMIID: s.AMIID, AMIName: s.AMIName, Status: s.Status, DesiredPower: s.DesiredPower,
		InstanceID: s.InstanceID, PublicIP: s.PublicIP, PrivateIP: s.PrivateIP, Endpoint: s.Endpoint,
		Imported: s.Imported, Tags: tags,
		CML: CMLView{Ready: s.CML.Ready, Version: s.CML.Version, LicenseStatus: s.CML.LicenseStatus,
			ServiceStatus: s.CML.ServiceStatus, LicenseTokenConfigured: s.LicenseTokenConfigured,
			LicenseOperation: s.CML.LicenseOperation, LicenseError: s.CML.LicenseError, ObservedAt: tp(s.CML.ObservedAt)},
		Idle: IdleView{Policy: clonePolicy(s.IdlePolicy), LastActivityAt: tp(s.Activity.LastActivityAt),
			WarningIssuedAt: tp(s.Activity.WarningIssuedAt), PauseAt: tp(s.Activity.PauseAt)},
		Provisioning: ProvisioningView{State: s.Provisioning.State, Step: s.Provisioning.Step,
			StartedAt: tp(s.Provisioning.StartedAt), StepStartedAt: tp(s.Provisioning.StepStartedAt),
			CompletedAt: tp(s.Provisioning.CompletedAt), Error: s.Provisioning.Error, FailedStep: s.Provisioning.FailedStep},
		EC2: EC2View{State: s.EC2.State, ObservedAt: tp(s.EC2.ObservedAt), Reason: s.EC2.Reason,
			SystemStatus: s.EC2.SystemStatus, InstanceStatus: s.EC2.InstanceStatus, RunningSince: tp(s.EC2.RunningSince)},
		Activity: ActivityView{AutoPauseCount: s.Activity.AutoPauseCount, ManualPauseCount: s.Activity.ManualPauseCount,
			AutoResumeCount: s.Activity.AutoResumeCount, ManualResumeCount: s.Activity.ManualResumeCount,
			LastPausedAt: tp(s.Activity.LastPausedAt), LastPausedBy: s.Activity.LastPausedBy,
			LastPauseReason: s.Activity.LastPauseReason, LastPauseAuto: s.Activity.LastPauseAuto,
			LastPauseIdleMinutes: s.Activity.LastPauseIdleMinutes, LastResumedAt: tp(s.Activity.LastResumedAt),
			LastResumedBy: s.Activity.LastResumedBy, LastResumeReason: s.Activity.LastResumeReason,
			LastResumeAuto: s.Activity.LastResumeAuto},
		Schedule:  s.Schedule.clone(),
		CreatedAt: tp(s.CreatedAt), CreatedBy: s.CreatedBy, UpdatedAt: tp(s.UpdatedAt),
		TerminatedAt: tp(s.TerminatedAt), TerminatedBy: s.TerminatedBy,
		Version: w.Version(),
	}
	if s.Status == StatusRunning && s.DesiredPower == PowerRunning {
		v.Idle.IdleSince = tp(w.idleReference())
	}
	return v
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
