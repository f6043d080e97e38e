package worker

import (
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/idle"
)

// Limits of user input.
const (
	MaxNameLength     = 128
	MaxUserTags       = 40 // EC2 allows 50 per resource; the rest is ours
	MaxTagKeyLength   = 128
	MaxTagValueLength = 256
	MaxReasonLength   = 500
	MaxErrorLength    = 2000 // AWS and CML messages can be long; we keep the start
	// ManagedTagPrefix marks the tags the product sets on instances.
	ManagedTagPrefix = "cmlcm:"
)

// ActivityResolution is the finest step at which activity is recorded.
// The monitor reports the latest activity on every check (every minute by
// default); recording each would fill the worker's history with one event
// a minute under use. A newer activity less than this after the recorded
// one is dropped unless an idle warning is pending (then it always counts,
// as it snoozes the pause). The cost: the idle clock may start up to this
// much early, which the warning before a pause makes harmless.
const ActivityResolution = 5 * time.Minute

// LicenseOperationTimeout is how long a licence job may stay in progress
// before a new one may replace it (the job itself gives up after 90 s by
// default; this only unblocks a worker whose job died without a word).
const LicenseOperationTimeout = 15 * time.Minute

var (
	regionRE       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	instanceTypeRE = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9-]+$`)
	amiIDRE        = regexp.MustCompile(`^ami-[0-9a-z]{1,32}$`)
	instanceIDRE   = regexp.MustCompile(`^i-[0-9a-z]{1,32}$`)
)

func (w *Worker) record(p event.Payload) error { return w.Record(p, w.apply) }

func (w *Worker) now() time.Time { return w.Now().UTC() }

// guard rejects an intention on a worker that does not exist, was removed
// or is terminated.
func (w *Worker) guard(op string) error {
	switch {
	case !w.s.Created:
		return w.reject(op, ErrNotCreated, "worker %s does not exist", w.AggregateID())
	case w.s.Removed:
		return w.reject(op, ErrRemoved, "the worker was removed from the fleet")
	case w.s.Status == StatusTerminated:
		return w.reject(op, ErrTerminated, "a terminated worker accepts no command")
	}
	return nil
}

// observable says whether an observation applies: false without error
// for removed and terminated workers, so late deliveries are harmless.
func (w *Worker) observable(op string) (bool, error) {
	switch {
	case !w.s.Created:
		return false, w.reject(op, ErrNotCreated, "worker %s does not exist", w.AggregateID())
	case w.s.Removed || w.s.Status == StatusTerminated:
		return false, nil
	}
	return true, nil
}

// guardPower rejects power changes the state forbids before any other check.
func (w *Worker) guardPower(op string) error {
	if err := w.guard(op); err != nil {
		return err
	}
	switch {
	case w.s.Status == StatusFailed:
		return w.reject(op, ErrFailed, "provisioning failed at %q (%s); terminate or remove it",
			w.s.Provisioning.FailedStep, w.s.Provisioning.Error)
	case w.s.Status == StatusProvisioning || w.s.Provisioning.State == ProvisioningInProgress:
		return w.reject(op, ErrProvisioning, "provisioning is in progress (step %q); wait until it completes",
			w.s.Provisioning.Step)
	case w.s.Status == StatusShuttingDown:
		return w.reject(op, ErrTransition, "the instance is being terminated")
	}
	return nil
}

// CreateSpec is the input of Create. The caller resolves fleet defaults
// (AMI per region, instance type) before calling.
type CreateSpec struct {
	Name         string
	Region       string
	InstanceType string
	AMIID        string // at least one of AMIID and AMIName
	AMIName      string // a name or EC2 name pattern; the workflow resolves it
	Tags         map[string]string
	IdlePolicy   *idle.Policy // nil follows the fleet policy
	Schedule     *Schedule    // nil: no wake-ups
	// LicenseTokenConfigured says a token was stored in the secret store
	// for this worker; the token itself never reaches the aggregate.
	LicenseTokenConfigured bool
}

// Create records a new worker, status provisioning, desired power running.
func (w *Worker) Create(spec CreateSpec) error {
	if w.s.Created {
		return w.reject("create", ErrExists, "worker %s already exists", w.AggregateID())
	}
	if w.AggregateID() == "" {
		return invalid("id", "is required")
	}
	if err := validateSpec(spec.Name, spec.Region, spec.InstanceType, spec.AMIID, spec.AMIName); err != nil {
		return err
	}
	if spec.AMIID == "" && spec.AMIName == "" {
		return invalid("amiId", "or amiName is required")
	}
	if err := validateUserTags(spec.Tags); err != nil {
		return err
	}
	if err := validatePolicy(spec.IdlePolicy); err != nil {
		return err
	}
	sch, err := normaliseSchedule(spec.Schedule)
	if err != nil {
		return err
	}
	return w.record(&Created{Name: strings.TrimSpace(spec.Name), Region: spec.Region, InstanceType: spec.InstanceType,
		AMIID: spec.AMIID, AMIName: spec.AMIName, Tags: cloneTags(spec.Tags), DesiredPower: PowerRunning,
		IdlePolicy: clonePolicy(spec.IdlePolicy), Schedule: sch, LicenseTokenConfigured: spec.LicenseTokenConfigured})
}

// ImportSpec is the input of Import: an existing instance as EC2 describes it.
type ImportSpec struct {
	Name         string // "" uses the instance's Name tag, else "worker-<instance id>"
	Region       string
	InstanceID   string
	InstanceType string
	AMIID        string
	AMIName      string
	// Tags are the instance's tags; managed and reserved keys (cmlcm:*,
	// aws:*, Name) are dropped, the rest become the user tags.
	Tags       map[string]string
	State      EC2State
	ObservedAt time.Time // zero means the command's time
	PublicIP   string
	PrivateIP  string
	Endpoint   string // CML API base URL; "" derives https://<public IP>
	IdlePolicy *idle.Policy

	LicenseTokenConfigured bool
}

// Import records a worker for an existing instance. Its status and desired
// power come from the observed EC2 state; terminated or shutting-down
// instances cannot be imported.
func (w *Worker) Import(spec ImportSpec) error {
	if w.s.Created {
		return w.reject("import", ErrExists, "worker %s already exists", w.AggregateID())
	}
	if w.AggregateID() == "" {
		return invalid("id", "is required")
	}
	if !instanceIDRE.MatchString(spec.InstanceID) {
		return invalid("instanceId", fmt.Sprintf("%q is not an EC2 instance id", spec.InstanceID))
	}
	name := strings.TrimSpace(spec.Name)
	if name == "" {
		name = strings.TrimSpace(spec.Tags["Name"])
	}
	if name == "" {
		name = "worker-" + spec.InstanceID
	}
	if err := validateSpec(name, spec.Region, spec.InstanceType, spec.AMIID, spec.AMIName); err != nil {
		return err
	}
	var status Status
	var desired Power
	switch spec.State {
	case EC2Pending, EC2Running:
		status, desired = Status(spec.State), PowerRunning
	case EC2Stopping, EC2Stopped:
		status, desired = Status(spec.State), PowerStopped
	case EC2ShuttingDown, EC2Terminated:
		return invalid("state", fmt.Sprintf("instance %s is %s and cannot be imported", spec.InstanceID, spec.State))
	default:
		return invalid("state", fmt.Sprintf("%q is not an EC2 instance state", spec.State))
	}
	if err := validateIPs(spec.PublicIP, spec.PrivateIP); err != nil {
		return err
	}
	if err := validatePolicy(spec.IdlePolicy); err != nil {
		return err
	}
	tags := map[string]string{}
	for k, v := range spec.Tags {
		if !reservedTag(k) {
			tags[k] = v
		}
	}
	if err := validateUserTags(tags); err != nil {
		return err
	}
	at := spec.ObservedAt.UTC()
	if at.IsZero() {
		at = w.now()
	}
	return w.record(&Imported{Name: name, Region: spec.Region, InstanceID: spec.InstanceID,
		InstanceType: spec.InstanceType, AMIID: spec.AMIID, AMIName: spec.AMIName, Tags: cloneTags(tags),
		State: spec.State, ObservedAt: at, PublicIP: spec.PublicIP, PrivateIP: spec.PrivateIP,
		Endpoint: endpointFor(spec.Endpoint, spec.PublicIP), Status: status, DesiredPower: desired,
		IdlePolicy: clonePolicy(spec.IdlePolicy), LicenseTokenConfigured: spec.LicenseTokenConfigured})
}

// InstanceAssignment is what RunInstances returned for the worker.
type InstanceAssignment struct {
	InstanceID   string
	AMIID        string // the AMI actually launched (resolved from a name)
	InstanceType string
	PrivateIP    string
}

// AssignInstance records the instance the provisioning workflow launched.
// Assigning the same instance again records nothing (the workflow may
// retry; RunInstances is idempotent on the worker id). A worker terminated
// meanwhile rejects it, which tells the workflow to terminate the instance.
func (w *Worker) AssignInstance(a InstanceAssignment) error {
	const op = "assign an instance to"
	if err := w.guard(op); err != nil {
		return err
	}
	if !instanceIDRE.MatchString(a.InstanceID) {
		return invalid("instanceId", fmt.Sprintf("%q is not an EC2 instance id", a.InstanceID))
	}
	if a.AMIID != "" && !amiIDRE.MatchString(a.AMIID) {
		return invalid("amiId", fmt.Sprintf("%q is not an AMI id", a.AMIID))
	}
	if a.InstanceType != "" && !instanceTypeRE.MatchString(a.InstanceType) {
		return invalid("instanceType", fmt.Sprintf("%q is not an instance type", a.InstanceType))
	}
	if err := validateIPs("", a.PrivateIP); err != nil {
		return err
	}
	switch {
	case w.s.InstanceID == a.InstanceID:
		return nil
	case w.s.InstanceID != "":
		return w.reject(op, ErrTransition, "it already has instance %s", w.s.InstanceID)
	case w.s.Provisioning.State != ProvisioningInProgress:
		return w.reject(op, ErrTransition, "it is not being provisioned")
	}
	return w.record(&InstanceAssigned{InstanceID: a.InstanceID, AMIID: a.AMIID, InstanceType: a.InstanceType,
		PrivateIP: a.PrivateIP})
}

// EC2Observation is what EC2 said about the worker's instance. A
// state-change notification carries only the state; a describe also
// carries Details.
type EC2Observation struct {
	InstanceID string // optional; when set it must be the worker's instance
	State      EC2State
	// ObservedAt is EC2's own time: the notification's time, or when the
	// describe call was made. Observations are ordered by it.
	ObservedAt time.Time
	Reason     string // EC2's state reason, verbatim (optional)
	Details    *EC2Details
}

// EC2Details are the instance facts a describe returns.
type EC2Details struct {
	PublicIP       string
	PrivateIP      string
	Endpoint       string // CML API base URL; "" derives https://<public IP>
	SystemStatus   CheckStatus
	InstanceStatus CheckStatus
	InstanceType   string
	AMIID          string
}

// ObserveEC2State records a state-change notification (state only).
func (w *Worker) ObserveEC2State(state EC2State, observedAt time.Time, reason string) error {
	return w.ObserveEC2(EC2Observation{State: state, ObservedAt: observedAt, Reason: reason})
}

// ObserveEC2 records what EC2 reports, which is authoritative for the
// instance: it moves the status of any worker except a failed one (whose
// failure stays visible; the EC2 facts are still updated) and a terminated
// one (terminated is final; observations are ignored).
//
// Ordering is by EC2's time. An observation older than the last one
// applied is ignored (nil, nothing recorded); at the same second, only the
// state EC2 would enter next is accepted. An observation that changes
// nothing records nothing. One made before the last start/stop/terminate
// request updates the EC2 facts but cannot move the status against that
// request (a describe taken just before a stop does not undo "stopping").
//
// When a notification says the instance stopped or terminated, the facts
// EC2 drops with it (public IP and endpoint; for terminated also the
// private IP; status checks) are cleared, and the CML service becomes
// unavailable.
func (w *Worker) ObserveEC2(o EC2Observation) error {
	const op = "observe EC2 on"
	if ok, err := w.observable(op); !ok {
		return err
	}
	if !o.State.valid() {
		return invalid("state", fmt.Sprintf("%q is not an EC2 instance state", o.State))
	}
	if o.ObservedAt.IsZero() {
		return invalid("observedAt", "is required (EC2's time orders observations)")
	}
	s := &w.s
	if s.InstanceID == "" {
		return w.reject(op, ErrNoInstance, "no instance is assigned yet")
	}
	if o.InstanceID != "" && o.InstanceID != s.InstanceID {
		return invalid("instanceId", fmt.Sprintf("observation of %s, but the worker's instance is %s", o.InstanceID, s.InstanceID))
	}
	if d := o.Details; d != nil {
		if err := validateIPs(d.PublicIP, d.PrivateIP); err != nil {
			return err
		}
		if !d.SystemStatus.valid() || !d.InstanceStatus.valid() {
			return invalid("statusChecks", fmt.Sprintf("unknown status check values %q/%q", d.SystemStatus, d.InstanceStatus))
		}
	}
	at := o.ObservedAt.UTC()
	if last := s.EC2.ObservedAt; !last.IsZero() {
		if at.Before(last) {
			return nil
		}
		if at.Equal(last) && o.State != s.EC2.State && !successor(s.EC2.State, o.State) {
			return nil
		}
	}

	next := EC2Observed{InstanceID: s.InstanceID, State: o.State, PreviousState: s.EC2.State, ObservedAt: at,
		Reason: truncate(o.Reason, MaxReasonLength), PreviousStatus: s.Status,
		PublicIP: s.PublicIP, PrivateIP: s.PrivateIP, Endpoint: s.Endpoint,
		SystemStatus: s.EC2.SystemStatus, InstanceStatus: s.EC2.InstanceStatus}
	if o.State != EC2Running {
		next.SystemStatus, next.InstanceStatus = "", ""
	}
	switch o.State {
	case EC2Stopped:
		next.PublicIP, next.Endpoint = "", ""
	case EC2Terminated:
		next.PublicIP, next.PrivateIP, next.Endpoint = "", "", ""
	}
	if d := o.Details; d != nil {
		next.PublicIP, next.PrivateIP = d.PublicIP, d.PrivateIP
		next.Endpoint = endpointFor(d.Endpoint, d.PublicIP)
		next.SystemStatus, next.InstanceStatus = d.SystemStatus, d.InstanceStatus
		if d.InstanceType != "" && d.InstanceType != s.InstanceType {
			next.InstanceType = d.InstanceType
		}
		if d.AMIID != "" && d.AMIID != s.AMIID {
			next.AMIID = d.AMIID
		}
	}
	next.Status = w.statusFor(o.State, at)

	if next.State == s.EC2.State && next.Status == s.Status && next.PublicIP == s.PublicIP &&
		next.PrivateIP == s.PrivateIP && next.Endpoint == s.Endpoint && next.SystemStatus == s.EC2.SystemStatus &&
		next.InstanceStatus == s.EC2.InstanceStatus && next.InstanceType == "" && next.AMIID == "" {
		return nil
	}
	return w.record(&next)
}

// statusFor is the status an EC2 state observed at `at` leads to.
func (w *Worker) statusFor(state EC2State, at time.Time) Status {
	s := &w.s
	switch {
	case s.Status == StatusFailed:
		return StatusFailed
	case state == EC2Terminated:
		return StatusTerminated
	case s.Request.Op != "" && at.Before(s.Request.At) && !s.Request.consistent(state):
		return s.Status
	}
	return Status(state)
}

// CMLObservation is what the worker's CML API reported.
type CMLObservation struct {
	ObservedAt    time.Time // zero means the command's time
	ServiceStatus ServiceStatus
	Ready         bool          // only meaningful when the service is available
	Version       string        // "" keeps the known version
	LicenseStatus LicenseStatus // "" keeps the known status
}

// ObserveCML records a change of CML readiness, version, licence or
// service status; it records nothing when nothing changed. Observations
// older than the last one applied are ignored, and so are observations of
// a worker whose instance is not running (its CML facts were reset when it
// stopped, and a late answer must not revive them).
func (w *Worker) ObserveCML(o CMLObservation) error {
	const op = "observe CML on"
	if ok, err := w.observable(op); !ok {
		return err
	}
	if !o.ServiceStatus.valid() {
		return invalid("serviceStatus", fmt.Sprintf("%q is not a service status", o.ServiceStatus))
	}
	if o.LicenseStatus != "" && !o.LicenseStatus.valid() {
		return invalid("licenseStatus", fmt.Sprintf("%q is not a licence status", o.LicenseStatus))
	}
	if len(o.Version) > 64 {
		return invalid("version", "is too long")
	}
	s := &w.s
	if s.InstanceID == "" || (s.EC2.State != "" && s.EC2.State != EC2Running) {
		return nil
	}
	at := o.ObservedAt.UTC()
	if at.IsZero() {
		at = w.now()
	}
	if at.Before(s.CML.ObservedAt) {
		return nil
	}
	next := CMLObserved{ObservedAt: at, Ready: o.Ready && o.ServiceStatus == ServiceAvailable,
		Version: s.CML.Version, LicenseStatus: s.CML.LicenseStatus, ServiceStatus: o.ServiceStatus, Changed: []string{}}
	if next.Ready != s.CML.Ready {
		next.Changed = append(next.Changed, "ready")
	}
	if o.Version != "" && o.Version != s.CML.Version {
		next.Version = o.Version
		next.Changed = append(next.Changed, "version")
	}
	if o.LicenseStatus != "" && o.LicenseStatus != s.CML.LicenseStatus {
		next.LicenseStatus = o.LicenseStatus
		next.Changed = append(next.Changed, "licenseStatus")
	}
	if o.ServiceStatus != s.CML.ServiceStatus {
		next.Changed = append(next.Changed, "serviceStatus")
	}
	if len(next.Changed) == 0 {
		return nil
	}
	return w.record(&next)
}

// RequestStart asks for the worker to run: a resume, counted as automatic
// when auto is set (a scheduled wake-up) and as manual otherwise. Counts
// move only when the desired power changes, so a retried request never
// counts twice.
//
// By status:
//   - stopped: status becomes pending; the caller must call StartInstances.
//   - stopping: accepted and deferred (EC2 cannot start a stopping
//     instance); the desired power is running, and a reconciler starts the
//     instance once it is stopped (Drift reports it).
//   - pending or running: rejected with ErrAlreadyInState ("already
//     running"), unless a stop was requested meanwhile, in which case the
//     request cancels it (no EC2 call needed). The system we replace
//     answered such starts with a silent no-op; a 409 tells an API user
//     that nothing happened, and scripts wanting "ensure running" can
//     treat ErrAlreadyInState as success.
//   - provisioning (or a workflow in progress), failed, shutting-down,
//     terminated, removed: rejected.
//
// The caller calls EC2 exactly when the recorded Resumed has FromStatus
// stopped.
func (w *Worker) RequestStart(reason string, auto bool) error {
	const op = "start"
	if err := w.guardPower(op); err != nil {
		return err
	}
	s := &w.s
	p := &Resumed{Reason: truncate(strings.TrimSpace(reason), MaxReasonLength), Auto: auto, FromStatus: s.Status}
	switch s.Status {
	case StatusPending, StatusRunning:
		if s.DesiredPower == PowerRunning {
			return w.reject(op, ErrAlreadyInState, "it is already %s", map[Status]string{StatusPending: "starting", StatusRunning: "running"}[s.Status])
		}
	case StatusStopping:
		if s.DesiredPower == PowerRunning {
			return w.reject(op, ErrAlreadyInState, "a start is already requested; it starts once stopped")
		}
		p.Deferred = true
	case StatusStopped:
	default:
		return w.reject(op, ErrTransition, "status %s cannot be started", s.Status)
	}
	return w.record(p)
}

// RequestStop asks for the worker to stop (a manual pause, or automatic
// when auto is set; idle auto-pauses use AutoPause). Mirror image of
// RequestStart:
//   - running: status becomes stopping; the caller must call StopInstances.
//   - pending: accepted and deferred (EC2 cannot stop a pending instance,
//     and metal instances stay pending for minutes); the desired power is
//     stopped and a reconciler stops the instance once it runs.
//   - stopping or stopped: rejected with ErrAlreadyInState ("already
//     stopped"), unless a start was requested meanwhile, which the stop
//     then cancels.
//   - provisioning (or a workflow in progress), failed, shutting-down,
//     terminated, removed: rejected.
//
// The caller calls EC2 exactly when the recorded Paused has FromStatus
// running.
func (w *Worker) RequestStop(reason string, auto bool) error {
	const op = "stop"
	if err := w.guardPower(op); err != nil {
		return err
	}
	return w.stop(op, &Paused{Reason: truncate(strings.TrimSpace(reason), MaxReasonLength), Auto: auto})
}

func (w *Worker) stop(op string, p *Paused) error {
	s := &w.s
	p.FromStatus = s.Status
	switch s.Status {
	case StatusStopping, StatusStopped:
		if s.DesiredPower == PowerStopped {
			return w.reject(op, ErrAlreadyInState, "it is already %s", s.Status)
		}
	case StatusPending:
		if s.DesiredPower == PowerStopped {
			return w.reject(op, ErrAlreadyInState, "a stop is already requested; it stops once running")
		}
		p.Deferred = true
	case StatusRunning:
	default:
		return w.reject(op, ErrTransition, "status %s cannot be stopped", s.Status)
	}
	return w.record(p)
}

// AutoPause stops a running worker that has been idle for idleMinutes,
// counted as an automatic pause with the reason and the idle minutes
// recorded (the system we replace counted these as manual). It re-checks
// the idleness against the worker's own activity record, so a decision
// made on stale data is rejected with ErrNotIdle; a worker whose own policy
// disables auto-pause rejects it with ErrIdleDisabled.
func (w *Worker) AutoPause(idleMinutes int) error {
	const op = "auto-pause"
	if err := w.guardPower(op); err != nil {
		return err
	}
	s := &w.s
	if idleMinutes < 1 {
		return invalid("idleMinutes", "must be at least 1")
	}
	if s.Status != StatusRunning {
		return w.reject(op, ErrNotRunning, "only a running worker is auto-paused")
	}
	if s.IdlePolicy != nil && !s.IdlePolicy.Enabled {
		return w.reject(op, ErrIdleDisabled, "the worker's idle policy is disabled")
	}
	if ref := w.idleReference(); w.now().Sub(ref) < time.Duration(idleMinutes)*time.Minute {
		return w.reject(op, ErrNotIdle, "activity at %s, less than %d minutes ago", ref.Format(time.RFC3339), idleMinutes)
	}
	return w.stop(op, &Paused{Reason: fmt.Sprintf("idle for %d minutes", idleMinutes), Auto: true, IdleMinutes: idleMinutes})
}

// RequestTerminate asks for the instance to be terminated: desired power
// terminated, status shutting-down (the caller calls TerminateInstances);
// EC2's terminated observation ends the worker. A worker with no live
// instance (never launched, or already gone) is terminated at once. It is
// allowed while provisioning (it cancels the workflow, which must then
// terminate what it launched) and on a failed worker.
func (w *Worker) RequestTerminate(reason string) error {
	const op = "terminate"
	if err := w.guard(op); err != nil {
		return err
	}
	s := &w.s
	if s.Status == StatusShuttingDown {
		return w.reject(op, ErrAlreadyInState, "it is already being terminated")
	}
	reason = truncate(strings.TrimSpace(reason), MaxReasonLength)
	if err := w.record(&TerminationRequested{Reason: reason, FromStatus: s.Status}); err != nil {
		return err
	}
	if s.InstanceID == "" || s.EC2.State == EC2Terminated {
		return w.record(&Terminated{Reason: "no live instance to terminate"})
	}
	return nil
}

// RecordExternalChange makes the desired power follow the observed EC2
// state after a reconciler found a change nobody asked for here (an
// instance stopped or started in the console). Nothing is recorded when
// they already agree.
func (w *Worker) RecordExternalChange(note string) error {
	const op = "record an external change on"
	if err := w.guard(op); err != nil {
		return err
	}
	s := &w.s
	switch {
	case s.Status == StatusFailed:
		return w.reject(op, ErrFailed, "provisioning failed; terminate or remove it")
	case s.Provisioning.State == ProvisioningInProgress:
		return w.reject(op, ErrProvisioning, "the provisioning workflow owns the power state")
	}
	var desired Power
	switch s.EC2.State {
	case EC2Pending, EC2Running:
		desired = PowerRunning
	case EC2Stopping, EC2Stopped:
		desired = PowerStopped
	case EC2ShuttingDown, EC2Terminated:
		desired = PowerTerminated
	default:
		return w.reject(op, ErrNoInstance, "EC2 has not reported the instance yet")
	}
	if desired == s.DesiredPower {
		return nil
	}
	return w.record(&ExternalChangeDetected{ObservedState: s.EC2.State, PreviousDesiredPower: s.DesiredPower,
		DesiredPower: desired, Note: truncate(strings.TrimSpace(note), MaxReasonLength)})
}

// RecordProvisioningStep records that the workflow entered step. The same
// step again records nothing (retries). An imported worker may join the
// workflow (its first step starts it); a completed, failed or cancelled
// provisioning accepts no more steps.
func (w *Worker) RecordProvisioningStep(step string) error {
	const op = "record a provisioning step of"
	if err := w.guard(op); err != nil {
		return err
	}
	step = strings.TrimSpace(step)
	if step == "" || len(step) > 64 {
		return invalid("step", "must be 1 to 64 characters")
	}
	s := &w.s
	switch s.Provisioning.State {
	case ProvisioningInProgress:
		if step == s.Provisioning.Step {
			return nil
		}
	case "":
		// An imported worker joining the workflow.
	case ProvisioningFailed:
		return w.reject(op, ErrFailed, "provisioning already failed at %q", s.Provisioning.FailedStep)
	default:
		return w.reject(op, ErrTransition, "provisioning is %s", s.Provisioning.State)
	}
	if s.Status == StatusShuttingDown {
		return w.reject(op, ErrTransition, "the instance is being terminated")
	}
	return w.record(&ProvisioningStepStarted{Step: step, PreviousStep: s.Provisioning.Step})
}

// ProvisioningFailed records that the workflow gave up at step (the
// current step when empty) with message (the AWS or CML error); the worker
// becomes failed. The caller terminates the instance it launched unless
// the settings keep it for debugging.
func (w *Worker) ProvisioningFailed(step, message string) error {
	const op = "fail the provisioning of"
	if err := w.guard(op); err != nil {
		return err
	}
	s := &w.s
	if s.Provisioning.State != ProvisioningInProgress {
		return w.reject(op, ErrTransition, "no provisioning is in progress")
	}
	message = strings.TrimSpace(message)
	if message == "" {
		return invalid("error", "is required: say why provisioning failed")
	}
	if step = strings.TrimSpace(step); step == "" {
		step = s.Provisioning.Step
	}
	if step == "" {
		step = "unknown"
	}
	return w.record(&ProvisioningFailedEvent{Step: truncate(step, 64), Error: truncate(message, MaxErrorLength)})
}

// ProvisioningCompleted records that the workflow finished. It needs an
// assigned instance that EC2 reports running: a worker never ends up ready
// in our records without a live instance.
func (w *Worker) ProvisioningCompleted() error {
	const op = "complete the provisioning of"
	if err := w.guard(op); err != nil {
		return err
	}
	s := &w.s
	switch {
	case s.Provisioning.State != ProvisioningInProgress:
		return w.reject(op, ErrTransition, "no provisioning is in progress")
	case s.InstanceID == "":
		return w.reject(op, ErrNoInstance, "no instance is assigned")
	case s.Status != StatusRunning:
		return w.reject(op, ErrNotRunning, "the instance is %s, not running", s.Status)
	}
	d := max(w.now().Sub(s.Provisioning.StartedAt), 0)
	return w.record(&ProvisioningCompletedEvent{DurationSeconds: int64(d / time.Second)})
}

// SetLicenseTokenConfigured records that a licence token was stored for
// the worker (true) or deleted (false). The token stays in the secret store.
func (w *Worker) SetLicenseTokenConfigured(configured bool) error {
	if err := w.guard("change the licence token of"); err != nil {
		return err
	}
	if w.s.LicenseTokenConfigured == configured {
		return nil
	}
	return w.record(&LicenseTokenChanged{Configured: configured})
}

func (w *Worker) licenseBusy() bool {
	c := &w.s.CML
	return c.LicenseOperation != "" && w.now().Sub(c.LicenseOpStartedAt) < LicenseOperationTimeout
}

// StartLicenseRegistration records that the registration job begins. It
// needs a running worker, a configured token, and no other licence job in
// progress (one stuck beyond LicenseOperationTimeout no longer counts).
// Registering an already registered licence needs reregister.
func (w *Worker) StartLicenseRegistration(reregister bool) error {
	const op = "register the licence of"
	if err := w.guard(op); err != nil {
		return err
	}
	s := &w.s
	switch {
	case !s.LicenseTokenConfigured:
		return w.reject(op, ErrTransition, "no licence token is configured")
	case s.Status != StatusRunning:
		return w.reject(op, ErrNotRunning, "CML must be running to register")
	case w.licenseBusy():
		return w.reject(op, ErrLicenseBusy, "%s since %s", s.CML.LicenseOperation, s.CML.LicenseOpStartedAt.Format(time.RFC3339))
	case s.CML.LicenseStatus == LicenseRegistered && !reregister:
		return w.reject(op, ErrAlreadyInState, "the licence is already registered (ask to re-register)")
	}
	return w.record(&LicenseRegistrationStarted{Reregister: reregister})
}

// CompleteLicenseRegistration records the job's success with the licence
// status CML reports (registered or evaluation).
func (w *Worker) CompleteLicenseRegistration(status LicenseStatus, smartAccount, virtualAccount string) error {
	const op = "complete the licence registration of"
	if err := w.guard(op); err != nil {
		return err
	}
	if status != LicenseRegistered && status != LicenseEvaluation {
		return invalid("status", fmt.Sprintf("%q is not a completed registration (registered or evaluation)", status))
	}
	if w.s.CML.LicenseOperation != LicenseRegistering {
		return w.reject(op, ErrTransition, "no licence registration is in progress")
	}
	return w.record(&LicenseRegistrationCompleted{Status: status, SmartAccount: truncate(smartAccount, 256),
		VirtualAccount: truncate(virtualAccount, 256)})
}

// FailLicenseRegistration records the job's failure (refused, failed or
// timed out) with CML's message and code.
func (w *Worker) FailLicenseRegistration(message, code string) error {
	const op = "fail the licence registration of"
	if err := w.guard(op); err != nil {
		return err
	}
	if strings.TrimSpace(message) == "" {
		return invalid("error", "is required")
	}
	if w.s.CML.LicenseOperation != LicenseRegistering {
		return w.reject(op, ErrTransition, "no licence registration is in progress")
	}
	return w.record(&LicenseRegistrationFailed{Error: truncate(message, MaxErrorLength), Code: truncate(code, 64)})
}

// StartLicenseDeregistration records that the deregistration job begins.
// It needs a running worker and no other licence job in progress; a
// licence known to be unregistered is rejected with ErrAlreadyInState.
func (w *Worker) StartLicenseDeregistration() error {
	const op = "deregister the licence of"
	if err := w.guard(op); err != nil {
		return err
	}
	s := &w.s
	switch {
	case s.Status != StatusRunning:
		return w.reject(op, ErrNotRunning, "CML must be running to deregister")
	case w.licenseBusy():
		return w.reject(op, ErrLicenseBusy, "%s since %s", s.CML.LicenseOperation, s.CML.LicenseOpStartedAt.Format(time.RFC3339))
	case s.CML.LicenseStatus == LicenseUnregistered:
		return w.reject(op, ErrAlreadyInState, "the licence is not registered")
	}
	return w.record(&LicenseDeregistrationStarted{})
}

// CompleteLicenseDeregistration records that the licence is released.
func (w *Worker) CompleteLicenseDeregistration(message string) error {
	const op = "complete the licence deregistration of"
	if err := w.guard(op); err != nil {
		return err
	}
	if w.s.CML.LicenseOperation != LicenseDeregistering {
		return w.reject(op, ErrTransition, "no licence deregistration is in progress")
	}
	return w.record(&LicenseDeregistrationCompleted{Message: truncate(message, MaxErrorLength)})
}

// FailLicenseDeregistration records the deregistration job's failure.
func (w *Worker) FailLicenseDeregistration(message string) error {
	const op = "fail the licence deregistration of"
	if err := w.guard(op); err != nil {
		return err
	}
	if strings.TrimSpace(message) == "" {
		return invalid("error", "is required")
	}
	if w.s.CML.LicenseOperation != LicenseDeregistering {
		return w.reject(op, ErrTransition, "no licence deregistration is in progress")
	}
	return w.record(&LicenseDeregistrationFailed{Error: truncate(message, MaxErrorLength)})
}

// SetIdlePolicy sets the worker's own idle policy; nil makes it follow the
// fleet policy again. An unchanged policy records nothing.
func (w *Worker) SetIdlePolicy(p *idle.Policy) error {
	if err := w.guard("set the idle policy of"); err != nil {
		return err
	}
	if err := validatePolicy(p); err != nil {
		return err
	}
	cur := w.s.IdlePolicy
	if (p == nil && cur == nil) || (p != nil && cur != nil && p.Equal(*cur)) {
		return nil
	}
	return w.record(&IdlePolicyChanged{Policy: clonePolicy(p)})
}

// SetSchedule sets the wake-up schedule; nil clears it. Days are stored in
// week order. An unchanged schedule records nothing.
func (w *Worker) SetSchedule(sch *Schedule) error {
	if err := w.guard("set the schedule of"); err != nil {
		return err
	}
	sch, err := normaliseSchedule(sch)
	if err != nil {
		return err
	}
	if w.s.Schedule.equal(sch) {
		return nil
	}
	return w.record(&ScheduleChanged{Schedule: sch})
}

// IssueIdleWarning records that the running worker, idle since idleSince,
// will be paused at pauseAt unless there is activity first. Reissuing the
// same warning records nothing; a warning based on stale data (activity
// after idleSince) is rejected with ErrNotIdle.
func (w *Worker) IssueIdleWarning(idleSince, pauseAt time.Time) error {
	const op = "warn"
	if err := w.guardPower(op); err != nil {
		return err
	}
	s := &w.s
	idleSince, pauseAt = idleSince.UTC(), pauseAt.UTC()
	switch {
	case idleSince.IsZero() || pauseAt.IsZero():
		return invalid("pauseAt", "and idleSince are required")
	case pauseAt.Before(idleSince):
		return invalid("pauseAt", "is before idleSince")
	case s.Status != StatusRunning:
		return w.reject(op, ErrNotRunning, "only a running worker is warned")
	case s.IdlePolicy != nil && !s.IdlePolicy.Enabled:
		return w.reject(op, ErrIdleDisabled, "the worker's idle policy is disabled")
	case s.Activity.LastActivityAt.After(idleSince):
		return w.reject(op, ErrNotIdle, "activity at %s, after %s", s.Activity.LastActivityAt.Format(time.RFC3339), idleSince.Format(time.RFC3339))
	case s.Activity.PauseAt.Equal(pauseAt) && s.Activity.WarnedIdleSince.Equal(idleSince):
		return nil
	}
	minutes := int(max(w.now().Sub(idleSince), 0) / time.Minute)
	return w.record(&IdleWarningIssued{IdleSince: idleSince, PauseAt: pauseAt, IdleMinutes: minutes})
}

// RecordActivity records activity on the worker at `at` (a CML telemetry
// event, a lab operation through our API, CPU above the policy threshold,
// or someone asking to keep the worker running); source says which. The
// last activity time only moves forward: an older time records nothing. A
// pending idle warning is withdrawn (the pause is snoozed). See
// ActivityResolution for when a newer time is still dropped. A time in the
// future (clock skew) counts as now. Activity on a worker that is not
// running or starting means nothing and is ignored.
func (w *Worker) RecordActivity(at time.Time, source string) error {
	if ok, err := w.observable("record activity on"); !ok {
		return err
	}
	if at.IsZero() {
		return invalid("at", "is required")
	}
	s := &w.s
	if s.Status != StatusRunning && s.Status != StatusPending {
		return nil
	}
	if at = at.UTC(); at.After(w.now()) {
		at = w.now()
	}
	last := s.Activity.LastActivityAt
	if !at.After(last) {
		return nil
	}
	warned := !s.Activity.PauseAt.IsZero()
	if !warned && !last.IsZero() && at.Sub(last) < ActivityResolution {
		return nil
	}
	return w.record(&ActivityRecorded{At: at, Source: truncate(strings.TrimSpace(source), 64), WarningCleared: warned})
}

// SetTags replaces the user tags. Keys reserved for the product (cmlcm:*,
// Name, which follows the worker name) and for AWS (aws:*) are rejected
// with a ValidationError matching ErrManagedTag. Unchanged tags record
// nothing.
func (w *Worker) SetTags(tags map[string]string) error {
	if err := w.guard("tag"); err != nil {
		return err
	}
	if err := validateUserTags(tags); err != nil {
		return err
	}
	if maps.Equal(tags, w.s.Tags) {
		return nil
	}
	next := maps.Clone(tags)
	if next == nil {
		next = map[string]string{}
	}
	return w.record(&TagsChanged{Tags: next})
}

// Remove takes the worker out of the fleet without touching its instance
// (which then shows up as an orphan if it carries our managed tag). It is
// the one command a terminated worker accepts, to clean up its record. It
// is rejected while provisioning runs: terminate the worker instead, so the
// workflow cleans up what it launched.
func (w *Worker) Remove(reason string) error {
	const op = "remove"
	switch {
	case !w.s.Created:
		return w.reject(op, ErrNotCreated, "worker %s does not exist", w.AggregateID())
	case w.s.Removed:
		return w.reject(op, ErrRemoved, "the worker was already removed")
	case w.s.Provisioning.State == ProvisioningInProgress:
		return w.reject(op, ErrProvisioning, "provisioning is in progress; terminate the worker instead")
	}
	return w.record(&Removed{Reason: truncate(strings.TrimSpace(reason), MaxReasonLength)})
}

// Validation helpers.

func validateSpec(name, region, instanceType, amiID, amiName string) error {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return invalid("name", "is required")
	case utf8.RuneCountInString(name) > MaxNameLength:
		return invalid("name", fmt.Sprintf("is longer than %d characters", MaxNameLength))
	case strings.ContainsFunc(name, unicode.IsControl):
		return invalid("name", "contains control characters")
	case !regionRE.MatchString(region):
		return invalid("region", fmt.Sprintf("%q is not an AWS region", region))
	case !instanceTypeRE.MatchString(instanceType):
		return invalid("instanceType", fmt.Sprintf("%q is not an EC2 instance type", instanceType))
	case amiID != "" && !amiIDRE.MatchString(amiID):
		return invalid("amiId", fmt.Sprintf("%q is not an AMI id", amiID))
	case len(amiName) > 128:
		return invalid("amiName", "is longer than 128 characters")
	}
	return nil
}

func validateIPs(public, private string) error {
	if public != "" {
		if _, err := netip.ParseAddr(public); err != nil {
			return invalid("publicIp", fmt.Sprintf("%q is not an IP address", public))
		}
	}
	if private != "" {
		if _, err := netip.ParseAddr(private); err != nil {
			return invalid("privateIp", fmt.Sprintf("%q is not an IP address", private))
		}
	}
	return nil
}

func validatePolicy(p *idle.Policy) error {
	if p == nil {
		return nil
	}
	if err := p.Validate(); err != nil {
		field, reason := "idlePolicy", err.Error()
		if fe, ok := err.(*idle.FieldError); ok {
			field, reason = "idlePolicy."+fe.Field, fe.Reason
		}
		return &ValidationError{Field: field, Reason: reason}
	}
	return nil
}

// reservedTag reports keys users may not set: ours (cmlcm:*, any case, and
// Name, which follows the worker name) and AWS's (aws:*, which EC2 refuses).
func reservedTag(k string) bool {
	lower := strings.ToLower(k)
	return strings.HasPrefix(lower, ManagedTagPrefix) || strings.HasPrefix(lower, "aws:") || k == "Name"
}

func validateUserTags(tags map[string]string) error {
	if len(tags) > MaxUserTags {
		return invalid("tags", fmt.Sprintf("at most %d user tags", MaxUserTags))
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		v := tags[k]
		switch {
		case reservedTag(k):
			return &ValidationError{Field: "tags." + k, Reason: "is managed by the product and cannot be set", Err: ErrManagedTag}
		case strings.TrimSpace(k) == "" || utf8.RuneCountInString(k) > MaxTagKeyLength:
			return invalid("tags", fmt.Sprintf("key %q must be 1 to %d characters", k, MaxTagKeyLength))
		case utf8.RuneCountInString(v) > MaxTagValueLength:
			return invalid("tags."+k, fmt.Sprintf("value is longer than %d characters", MaxTagValueLength))
		}
	}
	return nil
}

func normaliseSchedule(sch *Schedule) (*Schedule, error) {
	if sch == nil {
		return nil, nil
	}
	if err := sch.Validate(); err != nil {
		return nil, err
	}
	c := sch.clone()
	for i := range c.Wakeups {
		slices.SortFunc(c.Wakeups[i].Days, func(a, b string) int {
			return slices.Index(Weekdays, a) - slices.Index(Weekdays, b)
		})
	}
	return c, nil
}

// endpointFor is the CML API base URL: the one given (the sandbox serves
// CML on its own port), else https on the public IP.
func endpointFor(endpoint, publicIP string) string {
	switch {
	case endpoint != "":
		return endpoint
	case publicIP != "":
		return "https://" + publicIP
	}
	return ""
}

// truncate keeps at most n bytes of s without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
