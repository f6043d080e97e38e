package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/cml"
	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// Actor is who the workflow's events are recorded as.
var Actor = event.SystemActor("provision")

// WorkerRepo is what the tasks need of the worker repository
// (*eventstore.Repository[*worker.Worker] satisfies it).
type WorkerRepo interface {
	Load(ctx context.Context, id string) (*worker.Worker, error)
	Update(ctx context.Context, id string, decide func(*worker.Worker) error) (*worker.Worker, error)
}

// Cloud is the part of cloud.Cloud the workflow uses.
type Cloud interface {
	Launch(ctx context.Context, spec cloud.LaunchSpec) (cloud.Instance, error)
	Describe(ctx context.Context, region string, ids []string) ([]cloud.Instance, error)
	Discover(ctx context.Context, region string, f cloud.DiscoverFilter) ([]cloud.Instance, error)
	Terminate(ctx context.Context, region, instanceID string) error
}

// CML is the part of the CML client the workflow uses.
type CML interface {
	SystemInformation(ctx context.Context) (cml.SystemInformation, error)
	Register(ctx context.Context, token string, reregister bool, poll, timeout time.Duration) (cml.LicensingStatus, error)
}

// LicenseTokens reads a worker's licence token from the secret store.
type LicenseTokens interface {
	LicenseToken(ctx context.Context, workerID string) (string, error)
}

// Deps are the tasks' collaborators.
type Deps struct {
	Workers  WorkerRepo
	Settings func(ctx context.Context) (settings.Values, error)
	Cloud    Cloud
	// CML returns a client for a worker's CML API; default cml.New with a
	// 10 s timeout and no retries (the workflow polls anyway).
	CML    func(endpoint string) CML
	Tokens LicenseTokens // nil: licence registration is skipped
	// Environment is the cmlcm:environment tag value.
	Environment string
	Now         func() time.Time
	Logger      *slog.Logger
}

// Tasks are the workflow's step implementations.
type Tasks struct {
	d   Deps
	log *slog.Logger
}

// NewTasks returns the step implementations.
func NewTasks(d Deps) *Tasks {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.CML == nil {
		d.CML = func(endpoint string) CML {
			return cml.New(endpoint, cml.WithTimeout(10*time.Second), cml.WithRetries(0))
		}
	}
	return &Tasks{d: d, log: d.Logger.With("component", "provision")}
}

// TaskFunc is one step implementation.
type TaskFunc func(ctx context.Context, st State) (State, error)

// Func returns the implementation of a task name.
func (t *Tasks) Func(task string) (TaskFunc, bool) {
	fn, ok := map[string]TaskFunc{
		StepValidate: t.Validate, StepLaunch: t.Launch, StepWaitRunning: t.WaitRunning,
		StepWaitStatusChecks: t.WaitStatusChecks, StepWaitCMLReady: t.WaitCMLReady,
		StepRegisterLicense: t.RegisterLicense, StepReady: t.Ready, StepCompensate: t.Compensate,
	}[task]
	return fn, ok
}

// Run dispatches on task (st.Task when empty): the Lambda's handler.
func (t *Tasks) Run(ctx context.Context, task string, st State) (State, error) {
	if task == "" {
		task = st.Task
	}
	fn, ok := t.Func(task)
	if !ok {
		return st, &StepFailed{Step: task, Err: fmt.Errorf("unknown task %q", task)}
	}
	st.Task = task
	out, err := fn(ctx, st)
	if err != nil {
		t.log.WarnContext(ctx, "provisioning step error", "worker", st.WorkerID, "step", task,
			"correlationId", st.CorrelationID, "actor", Actor, "errorName", errorName(err), "err", err)
	}
	return out, err
}

func (t *Tasks) ctx(ctx context.Context, st State) context.Context {
	return event.WithMeta(ctx, event.Meta{Actor: Actor, CorrelationID: st.CorrelationID, Time: t.d.Now().UTC()})
}

// enter records the step (once) and starts the step clock.
func (t *Tasks) enter(ctx context.Context, st *State, step string) error {
	if st.Current != step {
		st.Current, st.StepStartedAt = step, t.d.Now().UTC()
	}
	st.Done, st.Wait, st.WaitSeconds = false, 0, 0
	_, err := t.d.Workers.Update(t.ctx(ctx, *st), st.WorkerID, func(w *worker.Worker) error {
		return w.RecordProvisioningStep(step)
	})
	return classify(step, err)
}

// classify turns a collaborator's error into a workflow error.
func classify(step string, err error) error {
	var (
		t  *TransientError
		to *StepTimeout
		f  *StepFailed
	)
	switch {
	case err == nil:
		return nil
	case errors.As(err, &t), errors.As(err, &to), errors.As(err, &f):
		return err
	case errors.Is(err, worker.ErrTerminated), errors.Is(err, worker.ErrRemoved):
		return &StepFailed{Step: step, Err: fmt.Errorf("%w: %w", ErrCancelled, err)}
	case errors.Is(err, worker.ErrInvalid), errors.Is(err, worker.ErrTransition), errors.Is(err, worker.ErrNotCreated),
		errors.Is(err, cloud.ErrCapacity), errors.Is(err, cloud.ErrInvalidConfig), errors.Is(err, cloud.ErrNotFound),
		errors.Is(err, cloud.ErrInvalidState), errors.Is(err, settings.ErrInvalid):
		return &StepFailed{Step: step, Err: err}
	case errors.Is(err, context.Canceled):
		return &StepFailed{Step: step, Err: err}
	}
	// Throttling, network errors, version conflicts (eventstore.ErrConflict
	// after the repository's own retries), unknown: retried a bounded
	// number of times, then caught.
	return &TransientError{Step: step, Err: err}
}

// poll finishes a wait step's attempt: done, or wait, or time out.
func (t *Tasks) poll(st State, step string, done bool, timeout, every time.Duration, last string) (State, error) {
	if done {
		st.Done = true
		return st, nil
	}
	if timeout > 0 && t.d.Now().Sub(st.StepStartedAt) >= timeout {
		return st, &StepTimeout{Step: step, Timeout: timeout, Last: last}
	}
	st.Wait = every
	st.WaitSeconds = max(int((every+time.Second-1)/time.Second), 1)
	return st, nil
}

// Validate checks the request and the settings, and fills the inputs.
func (t *Tasks) Validate(ctx context.Context, st State) (State, error) {
	const step = StepValidate
	if st.WorkerID == "" {
		return st, &StepFailed{Step: step, Err: errors.New("workerId is required")}
	}
	if st.StartedAt.IsZero() {
		st.StartedAt = t.d.Now().UTC()
	}
	if err := t.enter(ctx, &st, step); err != nil {
		return st, err
	}
	w, err := t.d.Workers.Load(ctx, st.WorkerID)
	if err != nil {
		return st, classify(step, err)
	}
	v, err := t.d.Settings(ctx)
	if err != nil {
		return st, classify(step, err)
	}
	if err := v.Validate(); err != nil {
		return st, &StepFailed{Step: step, Err: err}
	}
	st.Region = w.Region()
	st.Timeouts = fillTimeouts(st.Timeouts, v)
	if !st.Imported {
		spec := w.View()
		if spec.AMIID == "" && spec.AMIName == "" {
			if _, ok := v.AMIFor(st.Region); !ok {
				return st, &StepFailed{Step: step, Err: fmt.Errorf("no AMI for region %s: set one on the worker or in the settings (provisioning.amis)", st.Region)}
			}
		}
	}
	st.Done = true
	return st, nil
}

func fillTimeouts(t Timeouts, v settings.Values) Timeouts {
	s := v.Provisioning.Timeouts
	set := func(d *time.Duration, def time.Duration) {
		if *d <= 0 {
			*d = def
		}
	}
	set(&t.Running, time.Duration(s.RunningMinutes)*time.Minute)
	set(&t.StatusChecks, time.Duration(s.StatusChecksMinutes)*time.Minute)
	set(&t.CMLReady, time.Duration(s.CMLReadyMinutes)*time.Minute)
	set(&t.Total, time.Duration(s.TotalMinutes)*time.Minute)
	set(&t.EC2Poll, time.Duration(s.EC2PollSeconds)*time.Second)
	set(&t.CMLPoll, time.Duration(s.CMLPollSeconds)*time.Second)
	set(&t.License, time.Duration(v.License.TimeoutSeconds)*time.Second)
	set(&t.LicensePoll, time.Duration(v.License.PollSeconds)*time.Second)
	return t
}

// Launch runs the instance (client token = worker id, managed tags; a
// capacity error moves on to the next subnet inside Cloud.Launch) and
// assigns it to the worker. A retry finds the same instance.
func (t *Tasks) Launch(ctx context.Context, st State) (State, error) {
	const step = StepLaunch
	if err := t.enter(ctx, &st, step); err != nil {
		return st, err
	}
	w, err := t.d.Workers.Load(ctx, st.WorkerID)
	if err != nil {
		return st, classify(step, err)
	}
	if id := w.InstanceID(); id != "" {
		st.InstanceID, st.Launched, st.Done = id, !st.Imported, true
		return st, nil
	}
	v, err := t.d.Settings(ctx)
	if err != nil {
		return st, classify(step, err)
	}
	view := w.View()
	p := v.Provisioning
	spec := cloud.LaunchSpec{
		WorkerID: st.WorkerID, Region: view.Region, Name: view.Name,
		InstanceType: view.InstanceType, SubnetIDs: p.Subnets[view.Region], SecurityGroupIDs: p.SecurityGroups[view.Region],
		KeyName: p.KeyPairName, RootVolumeGiB: int32(p.RootVolumeGiB), InstanceProfile: p.InstanceProfile,
		DetailedMonitoring: true, Environment: t.d.Environment, Tags: view.Tags,
	}
	switch {
	case view.AMIID != "":
		spec.AMIID = view.AMIID
	case view.AMIName != "":
		spec.AMINamePattern = view.AMIName
	default:
		ami, _ := v.AMIFor(view.Region)
		spec.AMIID, spec.AMINamePattern = ami.ID, ""
		if ami.ID == "" {
			spec.AMINamePattern = ami.Name
		}
	}
	if spec.InstanceType == "" {
		spec.InstanceType = p.InstanceType
	}
	inst, err := t.d.Cloud.Launch(ctx, spec)
	if err != nil {
		return st, classify(step, err)
	}
	// From here the instance exists: remember it before anything else can
	// fail, so the compensation terminates it.
	st.InstanceID, st.Launched, st.Region = inst.ID, true, view.Region
	_, err = t.d.Workers.Update(t.ctx(ctx, st), st.WorkerID, func(w *worker.Worker) error {
		return w.AssignInstance(worker.InstanceAssignment{InstanceID: inst.ID, AMIID: inst.AMIID,
			InstanceType: inst.InstanceType, PrivateIP: inst.PrivateIP})
	})
	if err != nil {
		return st, classify(step, err)
	}
	t.log.InfoContext(ctx, "instance launched", "worker", st.WorkerID, "instance", inst.ID, "region", view.Region,
		"subnet", inst.SubnetID, "correlationId", st.CorrelationID, "actor", Actor)
	st.Done = true
	return st, nil
}

// describe returns the state's instance, or a StepFailed when EC2 no
// longer knows it.
func (t *Tasks) describe(ctx context.Context, st State, step string) (cloud.Instance, error) {
	insts, err := t.d.Cloud.Describe(ctx, st.Region, []string{st.InstanceID})
	if err != nil {
		return cloud.Instance{}, classify(step, err)
	}
	for _, in := range insts {
		if in.ID == st.InstanceID {
			return in, nil
		}
	}
	return cloud.Instance{}, &StepFailed{Step: step, Err: fmt.Errorf("instance %s: %w", st.InstanceID, cloud.ErrNotFound)}
}

// observe records what a describe said. EC2 observations are stamped with
// the real time: EC2's own notifications are, and they are ordered together.
func (t *Tasks) observe(ctx context.Context, st State, in cloud.Instance) error {
	_, err := t.d.Workers.Update(t.ctx(ctx, st), st.WorkerID, func(w *worker.Worker) error {
		return w.ObserveEC2(Observation(in, time.Now()))
	})
	return err
}

// Observation turns a described instance into a worker observation. Its
// time is truncated to the second, the precision of EC2's state-change
// notifications: a describe stamped 10.5 s would otherwise win over a
// notification of a later transition stamped 10 s, and the worker would
// miss it (at equal seconds the worker accepts the state EC2 enters next).
func Observation(in cloud.Instance, at time.Time) worker.EC2Observation {
	return worker.EC2Observation{InstanceID: in.ID, State: worker.EC2State(in.State), ObservedAt: at.UTC().Truncate(time.Second),
		Reason: in.StateReason, Details: &worker.EC2Details{PublicIP: in.PublicIP, PrivateIP: in.PrivateIP,
			Endpoint: in.CMLURL(), SystemStatus: worker.CheckStatus(in.SystemStatus),
			InstanceStatus: worker.CheckStatus(in.InstanceStatus), InstanceType: in.InstanceType, AMIID: in.AMIID}}
}

func (t *Tasks) instanceState(ctx context.Context, st *State, step string) (cloud.Instance, error) {
	if st.InstanceID == "" || st.Region == "" {
		w, err := t.d.Workers.Load(ctx, st.WorkerID)
		if err != nil {
			return cloud.Instance{}, classify(step, err)
		}
		st.InstanceID, st.Region = w.InstanceID(), w.Region()
	}
	if st.InstanceID == "" {
		return cloud.Instance{}, &StepFailed{Step: step, Err: worker.ErrNoInstance}
	}
	in, err := t.describe(ctx, *st, step)
	if err != nil {
		return in, err
	}
	switch in.State {
	case cloud.StateShuttingDown, cloud.StateTerminated, cloud.StateStopping, cloud.StateStopped:
		return in, &StepFailed{Step: step, Err: fmt.Errorf("instance %s is %s (%s)", in.ID, in.State, in.StateReason)}
	}
	return in, nil
}

// WaitRunning polls until EC2 reports the instance running. Imported
// instances join the workflow here.
func (t *Tasks) WaitRunning(ctx context.Context, st State) (State, error) {
	const step = StepWaitRunning
	if st.Imported && st.StartedAt.IsZero() {
		st.StartedAt = t.d.Now().UTC()
		if v, err := t.d.Settings(ctx); err == nil {
			st.Timeouts = fillTimeouts(st.Timeouts, v)
		}
	}
	if err := t.enter(ctx, &st, step); err != nil {
		return st, err
	}
	in, err := t.instanceState(ctx, &st, step)
	if err != nil {
		return st, err
	}
	running := in.State == cloud.StateRunning
	if err := t.observe(ctx, st, in); err != nil {
		return st, classify(step, err)
	}
	return t.poll(st, step, running, st.Timeouts.Running, st.Timeouts.EC2Poll, string(in.State))
}

// WaitStatusChecks polls until both EC2 status checks are ok.
func (t *Tasks) WaitStatusChecks(ctx context.Context, st State) (State, error) {
	const step = StepWaitStatusChecks
	if err := t.enter(ctx, &st, step); err != nil {
		return st, err
	}
	in, err := t.instanceState(ctx, &st, step)
	if err != nil {
		return st, err
	}
	if in.SystemStatus == cloud.CheckImpaired || in.InstanceStatus == cloud.CheckImpaired {
		return st, &StepFailed{Step: step, Err: fmt.Errorf("status checks impaired (system %s, instance %s)", in.SystemStatus, in.InstanceStatus)}
	}
	if err := t.observe(ctx, st, in); err != nil {
		return st, classify(step, err)
	}
	st.Endpoint = in.CMLURL()
	return t.poll(st, step, in.StatusOK(), st.Timeouts.StatusChecks, st.Timeouts.EC2Poll,
		fmt.Sprintf("system %s, instance %s", in.SystemStatus, in.InstanceStatus))
}

// WaitCMLReady polls the CML API until it answers ready.
func (t *Tasks) WaitCMLReady(ctx context.Context, st State) (State, error) {
	const step = StepWaitCMLReady
	if err := t.enter(ctx, &st, step); err != nil {
		return st, err
	}
	if st.Endpoint == "" {
		in, err := t.instanceState(ctx, &st, step)
		if err != nil {
			return st, err
		}
		st.Endpoint = in.CMLURL()
	}
	last := "no endpoint"
	ready := false
	if st.Endpoint != "" {
		callCtx, cancel := context.WithTimeout(ctx, min(max(st.Timeouts.CMLPoll, 5*time.Second), 30*time.Second))
		si, err := t.d.CML(st.Endpoint).SystemInformation(callCtx)
		cancel()
		switch {
		case err != nil:
			last = err.Error()
		case !si.Ready:
			last = "CML " + si.Version + " not ready"
		default:
			ready = true
			_, err := t.d.Workers.Update(t.ctx(ctx, st), st.WorkerID, func(w *worker.Worker) error {
				return w.ObserveCML(worker.CMLObservation{ServiceStatus: worker.ServiceAvailable, Ready: true, Version: si.Version})
			})
			if err != nil {
				return st, classify(step, err)
			}
		}
	}
	return t.poll(st, step, ready, st.Timeouts.CMLReady, st.Timeouts.CMLPoll, last)
}

// RegisterLicense registers the licence when a token is configured. A
// failed registration is recorded on the worker (licence failed event)
// but does not fail provisioning: CML runs unlicensed, and the licence can
// be registered again from the API.
func (t *Tasks) RegisterLicense(ctx context.Context, st State) (State, error) {
	const step = StepRegisterLicense
	if err := t.enter(ctx, &st, step); err != nil {
		return st, err
	}
	w, err := t.d.Workers.Load(ctx, st.WorkerID)
	if err != nil {
		return st, classify(step, err)
	}
	st.Done = true
	if !w.LicenseTokenConfigured() || t.d.Tokens == nil {
		st.LicenseResult = "skipped"
		return st, nil
	}
	token, err := t.d.Tokens.LicenseToken(ctx, st.WorkerID)
	if err != nil {
		return st, classify(step, err)
	}
	_, err = t.d.Workers.Update(t.ctx(ctx, st), st.WorkerID, func(w *worker.Worker) error {
		return w.StartLicenseRegistration(false)
	})
	if errors.Is(err, worker.ErrAlreadyInState) || errors.Is(err, worker.ErrLicenseBusy) {
		st.LicenseResult = "skipped"
		return st, nil
	}
	if err != nil {
		return st, classify(step, err)
	}
	endpoint := st.Endpoint
	if endpoint == "" {
		endpoint = w.Endpoint()
	}
	lic, rerr := t.d.CML(endpoint).Register(ctx, token, false, st.Timeouts.LicensePoll, st.Timeouts.License)
	_, err = t.d.Workers.Update(t.ctx(ctx, st), st.WorkerID, func(w *worker.Worker) error {
		if rerr != nil {
			return w.FailLicenseRegistration(rerr.Error(), lic.Registration.Status)
		}
		return w.CompleteLicenseRegistration(worker.LicenseRegistered, deref(lic.Registration.SmartAccount), deref(lic.Registration.VirtualAccount))
	})
	if err != nil {
		return st, classify(step, err)
	}
	st.LicenseResult = "registered"
	if rerr != nil {
		st.LicenseResult = "failed: " + rerr.Error()
	}
	return st, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Ready completes the provisioning; the worker must run on its instance.
func (t *Tasks) Ready(ctx context.Context, st State) (State, error) {
	const step = StepReady
	if err := t.enter(ctx, &st, step); err != nil {
		return st, err
	}
	_, err := t.d.Workers.Update(t.ctx(ctx, st), st.WorkerID, func(w *worker.Worker) error {
		return w.ProvisioningCompleted()
	})
	if errors.Is(err, worker.ErrNotRunning) {
		// A describe said running; a late notification may not have caught
		// up yet. Retry rather than fail a healthy worker.
		return st, &TransientError{Step: step, Err: err}
	}
	if err != nil {
		return st, classify(step, err)
	}
	st.Done = true
	return st, nil
}

// Compensate records the failure and terminates what this workflow
// launched, unless the settings keep failed instances for debugging. An
// imported instance is never terminated. It finds launched instances by
// the worker-id tag too, so a launch that failed after RunInstances
// succeeded leaves nothing behind.
func (t *Tasks) Compensate(ctx context.Context, st State) (State, error) {
	f := Failure{Message: "provisioning failed"}
	if st.Error != nil {
		f = *st.Error
	}
	// Step Functions' Catch keeps the failed state's input, whose task
	// field the state machine set to the failed step.
	failedStep := f.Step
	if failedStep == "" {
		failedStep = st.Task
	}
	if failedStep == "" || failedStep == StepCompensate {
		failedStep = st.Current
	}
	_, err := t.d.Workers.Update(t.ctx(ctx, st), st.WorkerID, func(w *worker.Worker) error {
		return w.ProvisioningFailed(failedStep, f.Text())
	})
	// Not in progress (terminated meanwhile, or already failed by an
	// earlier attempt of this step) is fine: cleaning up still matters.
	if err != nil && !errors.Is(err, worker.ErrTransition) && !errors.Is(err, worker.ErrTerminated) &&
		!errors.Is(err, worker.ErrRemoved) && !errors.Is(err, worker.ErrNotCreated) {
		return st, &TransientError{Step: StepCompensate, Err: err}
	}
	st.Done = true
	if st.Imported {
		return st, nil
	}
	v, err := t.d.Settings(ctx)
	if err != nil {
		return st, &TransientError{Step: StepCompensate, Err: err}
	}
	if v.Provisioning.KeepFailedInstance {
		t.log.WarnContext(ctx, "keeping the failed instance (settings: keepFailedInstance)", "worker", st.WorkerID,
			"instance", st.InstanceID, "correlationId", st.CorrelationID, "actor", Actor)
		return st, nil
	}
	region := st.Region
	if region == "" {
		if w, err := t.d.Workers.Load(ctx, st.WorkerID); err == nil {
			region = w.Region()
		}
	}
	ids := map[string]bool{}
	if st.InstanceID != "" && st.Launched {
		ids[st.InstanceID] = true
	}
	if region != "" {
		found, err := t.d.Cloud.Discover(ctx, region, cloud.DiscoverFilter{Tags: map[string]string{
			cloud.TagManaged: "true", cloud.TagWorkerID: st.WorkerID}, States: []cloud.State{cloud.StatePending,
			cloud.StateRunning, cloud.StateStopping, cloud.StateStopped}})
		if err != nil {
			return st, &TransientError{Step: StepCompensate, Err: err}
		}
		for _, in := range found {
			ids[in.ID] = true
		}
	}
	for id := range ids {
		if err := t.d.Cloud.Terminate(ctx, region, id); err != nil {
			return st, &TransientError{Step: StepCompensate, Err: fmt.Errorf("terminate %s: %w", id, err)}
		}
		t.log.InfoContext(ctx, "terminated the instance of a failed provisioning", "worker", st.WorkerID,
			"instance", id, "failedStep", failedStep, "correlationId", st.CorrelationID, "actor", Actor)
	}
	return st, nil
}

// SettingsLoader loads the settings aggregate
// (*eventstore.Repository[*settings.Settings] satisfies it).
type SettingsLoader interface {
	Load(ctx context.Context, id string) (*settings.Settings, error)
}

// SettingsFrom reads the current fleet settings on every call, so a change
// applies to the next step without a redeploy.
func SettingsFrom(r SettingsLoader) func(ctx context.Context) (settings.Values, error) {
	return func(ctx context.Context) (settings.Values, error) {
		s, err := r.Load(ctx, settings.ID)
		if err != nil {
			return settings.Values{}, err
		}
		return s.Values(), nil
	}
}
