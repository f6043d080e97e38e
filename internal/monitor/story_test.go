package monitor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cmlcm/cmlcm/internal/bus"
	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/cml"
	"github.com/cmlcm/cmlcm/internal/cmlsim"
	"github.com/cmlcm/cmlcm/internal/ec2events"
	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	esbolt "github.com/cmlcm/cmlcm/internal/eventstore/bolt"
	"github.com/cmlcm/cmlcm/internal/lab"
	"github.com/cmlcm/cmlcm/internal/monitor"
	"github.com/cmlcm/cmlcm/internal/projector"
	"github.com/cmlcm/cmlcm/internal/provision"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	rmbolt "github.com/cmlcm/cmlcm/internal/readmodel/bolt"
	"github.com/cmlcm/cmlcm/internal/sandbox"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// clock is the wall clock of idle timeouts and wake-ups: the real time
// plus an offset the test moves forward, so it never runs behind the
// sandbox's (real) EC2 timestamps.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset).UTC()
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

type memTelemetry struct {
	mu      sync.Mutex
	samples []monitor.Sample
}

func (m *memTelemetry) Put(_ context.Context, s monitor.Sample) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples = append(m.samples, s)
	return nil
}

type env struct {
	t        *testing.T
	ctx      context.Context
	store    *esbolt.Store
	rm       *rmbolt.Store
	sb       *sandbox.Sandbox
	workers  *eventstore.Repository[*worker.Worker]
	tasks    *provision.Tasks
	runner   *provision.Runner
	mon      *monitor.Monitor
	clock    *clock
	tel      *memTelemetry
	settings func(context.Context) (settings.Values, error)
	last     time.Time // previous tick
}

const region = "us-east-1"

func newEnv(t *testing.T, opt func(*monitor.Options)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	dir := t.TempDir()
	store, err := esbolt.Open(filepath.Join(dir, "cmlcm.db"))
	if err != nil {
		t.Fatal(err)
	}
	rm, err := rmbolt.New(store.DB())
	if err != nil {
		t.Fatal(err)
	}
	feed, err := esbolt.NewFeed(store, "projector")
	if err != nil {
		t.Fatal(err)
	}
	p := projector.New(projector.Projections(store, rm), rm, bus.NewLocal(), log)
	feedDone := make(chan struct{})
	go func() { defer close(feedDone); _ = feed.Run(ctx, p.Handle) }()
	// Scale 600: pending 0.2 s, status checks 0.5 s, CML boot 1.3 s.
	sb, err := sandbox.New(sandbox.Options{Scale: 600, PlainHTTP: true, Logger: log,
		SimOptions: func(_ string, o *cmlsim.Options) { o.RegistrationDelay = 100 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	workers := eventstore.NewRepository(store, worker.New)
	settingsRepo := eventstore.NewRepository(store, settings.New)
	// Every job every minute, so each test tick (a minute or more apart)
	// runs them all.
	if _, err := settingsRepo.Create(ctx, settings.ID, func(s *settings.Settings) error {
		return s.Update(json.RawMessage(`{"intervals":{"metricsSeconds":60,"labsRefreshSeconds":60,"idleCheckSeconds":60,"discoverySeconds":60}}`))
	}); err != nil {
		t.Fatal(err)
	}
	h := ec2events.New(rm, workers, log)
	unsub := sb.Subscribe(func(e events.CloudWatchEvent) {
		if _, err := h.Handle(ctx, e); err != nil {
			t.Logf("ec2 event: %v", err)
		}
	})
	sv := provision.SettingsFrom(settingsRepo)
	tasks := provision.NewTasks(provision.Deps{Workers: workers, Settings: sv, Cloud: sb, Environment: "test", Logger: log})
	c := &clock{}
	tel := &memTelemetry{}
	o := monitor.Options{Workers: workers, Labs: eventstore.NewRepository(store, lab.New), ReadModel: rm, Settings: sv,
		Cloud: sb, Telemetry: tel, Now: c.Now, CallTimeout: 2 * time.Second, WorkerTimeout: 4 * time.Second, Logger: log}
	if opt != nil {
		opt(&o)
	}
	e := &env{t: t, ctx: ctx, store: store, rm: rm, sb: sb, workers: workers, tasks: tasks,
		runner: provision.NewRunner(tasks, provision.Spec(), log), mon: monitor.New(o), clock: c, tel: tel, settings: sv}
	t.Cleanup(func() {
		e.runner.Close()
		unsub()
		sb.Close()
		cancel()
		<-feedDone
		store.Close()
	})
	return e
}

// fast are the workflow's time inputs for the scaled sandbox.
var fast = provision.Timeouts{Running: 10 * time.Second, StatusChecks: 10 * time.Second, CMLReady: 15 * time.Second,
	EC2Poll: 50 * time.Millisecond, CMLPoll: 50 * time.Millisecond, License: 5 * time.Second, LicensePoll: 50 * time.Millisecond}

func (e *env) create(name string) string {
	e.t.Helper()
	id := "w-" + strings.ToLower(name)
	if _, err := e.workers.Create(e.ctx, id, func(w *worker.Worker) error {
		return w.Create(worker.CreateSpec{Name: name, Region: region, InstanceType: "m5zn.metal", AMIID: sandbox.DefaultImages[0].ID})
	}); err != nil {
		e.t.Fatal(err)
	}
	return id
}

func (e *env) provision(id string, to provision.Timeouts) (provision.State, error) {
	return e.runner.Run(e.ctx, provision.State{WorkerID: id, CorrelationID: "test-" + id, Timeouts: to})
}

func (e *env) load(id string) *worker.Worker {
	e.t.Helper()
	w, err := e.workers.Load(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return w
}

// view is the worker as the read model has it.
func (e *env) view(id string) worker.View {
	row, err := e.rm.GetWorker(e.ctx, id)
	if err != nil {
		return worker.View{}
	}
	var v worker.View
	_ = json.Unmarshal(row.Doc, &v)
	return v
}

func (e *env) waitFor(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// synced waits until the read model shows the aggregate's version.
func (e *env) synced(id string) worker.View {
	e.t.Helper()
	want := e.load(id).Version()
	e.waitFor("read model of "+id, func() bool { return e.view(id).Version >= want })
	return e.view(id)
}

// tick runs one tick covering (previous tick, now], as the ticker does.
func (e *env) tick() monitor.Report {
	e.t.Helper()
	now := e.clock.Now()
	prev := e.last
	if prev.IsZero() {
		prev = now.Add(-time.Minute)
	}
	e.last = now
	r, err := e.mon.Tick(e.ctx, prev, now)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) history(id string) []event.Event {
	e.t.Helper()
	page, err := e.store.History(e.ctx, id, "", 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	return page.Events
}

func steps(evs []event.Event) []string {
	var out []string
	for _, ev := range evs {
		if ev.Type == worker.TypeProvisioningStep {
			var p struct{ Step string }
			_ = json.Unmarshal(ev.Data, &p)
			out = append(out, p.Step)
		}
	}
	return out
}

func TestWholeStory(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create("story")

	// Provisioning: steps in order, running, CML ready.
	start := time.Now()
	if _, err := e.provision(id, fast); err != nil {
		t.Fatalf("provisioning: %v", err)
	}
	t.Logf("provisioned in %s", time.Since(start).Round(time.Millisecond))
	want := []string{provision.StepValidate, provision.StepLaunch, provision.StepWaitRunning, provision.StepWaitStatusChecks,
		provision.StepWaitCMLReady, provision.StepRegisterLicense, provision.StepReady}
	if got := steps(e.history(id)); !slices.Equal(got, want) {
		t.Fatalf("steps %v, want %v", got, want)
	}
	w := e.load(id)
	if w.Status() != worker.StatusRunning || !w.CMLReady() || w.Provisioning() != worker.ProvisioningCompleted || w.InstanceID() == "" {
		t.Fatalf("after provisioning: status %s, CML ready %v, provisioning %s, instance %q", w.Status(), w.CMLReady(), w.Provisioning(), w.InstanceID())
	}
	v := e.synced(id)

	// Import and start the sample lab.
	yaml, err := os.ReadFile("../cmlsim/testdata/sample-lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := cml.New(v.Endpoint)
	imp, err := c.ImportLab(e.ctx, yaml, "sample")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartLab(e.ctx, imp.ID); err != nil {
		t.Fatal(err)
	}

	// First tick: metrics, labs, activity from the lab operations.
	r := e.tick()
	if r.MetricsCollected != 1 || r.LabsRefreshed != 1 || r.IdleChecked != 1 || r.Warnings+r.Pauses != 0 {
		t.Fatalf("first tick: %+v", r)
	}
	if labs, _ := e.rm.ListLabs(e.ctx, id); len(labs) != 1 {
		e.waitFor("lab record", func() bool { l, _ := e.rm.ListLabs(e.ctx, id); return len(l) == 1 })
	}
	if len(e.tel.samples) != 1 || !e.tel.samples[0].CMLReachable || e.tel.samples[0].ExpiresAt.Sub(e.tel.samples[0].At) != 14*24*time.Hour {
		t.Fatalf("telemetry: %+v", e.tel.samples)
	}
	e.synced(id)

	// No activity for 51 minutes: the warning (10 minutes before a 60-minute timeout).
	e.clock.Advance(51 * time.Minute)
	if r := e.tick(); r.Warnings != 1 || r.Pauses != 0 {
		t.Fatalf("tick at 51 min: %+v", r)
	}
	v = e.synced(id)
	if v.Idle.PauseAt == nil {
		t.Fatal("no pause time after the warning")
	}

	// Ten minutes later: auto-pause.
	e.clock.Advance(10 * time.Minute)
	if r := e.tick(); r.Pauses != 1 {
		t.Fatalf("tick at 61 min: %+v", r)
	}
	e.waitFor("stopped", func() bool { return e.load(id).Status() == worker.StatusStopped })
	v = e.synced(id)
	a := v.Activity
	if a.AutoPauseCount != 1 || a.ManualPauseCount != 0 || !a.LastPauseAuto || a.LastPausedBy != monitor.ActorIdle ||
		a.LastPauseIdleMinutes < 60 || !strings.Contains(a.LastPauseReason, "idle for") {
		t.Fatalf("pause recorded as %+v", a)
	}
	if in, _ := e.sb.Describe(e.ctx, region, []string{v.InstanceID}); len(in) != 1 || in[0].State != cloud.StateStopped {
		t.Fatalf("instance %+v", in)
	}

	// A wake-up scheduled 30 minutes from now.
	at := e.clock.Now().Add(30 * time.Minute).Truncate(time.Minute).Add(time.Minute)
	if _, err := e.workers.Update(e.ctx, id, func(w *worker.Worker) error {
		return w.SetSchedule(&worker.Schedule{Timezone: "UTC", Wakeups: []worker.Wakeup{{Days: worker.Weekdays, At: at.Format("15:04")}}})
	}); err != nil {
		t.Fatal(err)
	}
	e.synced(id)
	e.clock.Advance(30 * time.Minute)
	if hours, dollars := monitor.Savings(e.view(id), settings.DefaultPrices(), e.clock.Now()); hours < 0.5 || dollars < 0.5*3.964 {
		t.Fatalf("savings %.2f h $%.2f", hours, dollars)
	}
	if r := e.tick(); r.Wakeups != 0 {
		t.Fatalf("woke up early: %+v", r)
	}
	e.clock.Advance(2 * time.Minute)
	if r := e.tick(); r.Wakeups != 1 {
		t.Fatalf("wake-up tick: %+v", r)
	}
	e.waitFor("running again", func() bool {
		w := e.load(id)
		if w.Status() != worker.StatusRunning {
			in, _ := e.sb.Describe(e.ctx, region, []string{w.InstanceID()})
			t.Logf("worker %s ec2 %s desired %s; sandbox %+v now %s", w.Status(), w.EC2State(), w.DesiredPower(), in[0], time.Now())
		}
		return w.Status() == worker.StatusRunning
	})
	v = e.synced(id)
	if v.Activity.AutoResumeCount != 1 || !v.Activity.LastResumeAuto || v.Activity.LastResumedBy != monitor.ActorSchedule {
		t.Fatalf("resume recorded as %+v", v.Activity)
	}
	// CML comes back; the tick notices (a change becomes an event).
	e.waitFor("CML ready again", func() bool {
		e.clock.Advance(time.Minute)
		e.tick()
		return e.load(id).CMLReady()
	})
	// The snooze after a resume: no warning right away.
	if r := e.tick(); r.Warnings+r.Pauses != 0 {
		t.Fatalf("paused during the snooze: %+v", r)
	}
}

func TestProvisioningFailureCompensates(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create("doomed")
	to := fast
	to.CMLReady = 300 * time.Millisecond // CML boots in 1.3 s: this step times out
	st, err := e.provision(id, to)
	if err == nil {
		t.Fatal("provisioning succeeded")
	}
	var timeout *provision.StepTimeout
	if !errorsAs(err, &timeout) || timeout.Step != provision.StepWaitCMLReady {
		t.Fatalf("error %v", err)
	}
	w := e.load(id)
	v := w.View()
	if w.Status() != worker.StatusFailed || v.Provisioning.FailedStep != provision.StepWaitCMLReady ||
		!strings.Contains(v.Provisioning.Error, "timed out") {
		t.Fatalf("worker %s, provisioning %+v", w.Status(), v.Provisioning)
	}
	if st.InstanceID == "" || !st.Launched {
		t.Fatalf("state %+v", st)
	}
	e.waitFor("instance terminated", func() bool {
		in, _ := e.sb.Describe(e.ctx, region, []string{st.InstanceID})
		return len(in) == 1 && in[0].State == cloud.StateTerminated
	})
	// Never running with an instance we do not know: the worker keeps the
	// instance it launched, failed.
	if w := e.load(id); w.Status() != worker.StatusFailed || w.InstanceID() != st.InstanceID {
		t.Fatalf("after compensation: %s %s", w.Status(), w.InstanceID())
	}
}

func TestLaunchCapacityFailsOverThenFails(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create("nocap")
	e.sb.InjectFault(sandbox.Fault{Op: "Launch", Err: cloud.ErrCapacity})
	_, err := e.provision(id, fast)
	var failed *provision.StepFailed
	if !errorsAs(err, &failed) || failed.Step != provision.StepLaunch {
		t.Fatalf("error %v", err)
	}
	if v := e.load(id).View(); v.Status != worker.StatusFailed || v.Provisioning.FailedStep != provision.StepLaunch ||
		!strings.Contains(v.Provisioning.Error, "capacity") {
		t.Fatalf("view %+v", v.Provisioning)
	}
}

func TestDeadCMLDoesNotBlockOthers(t *testing.T) {
	e := newEnv(t, func(o *monitor.Options) { o.CallTimeout, o.WorkerTimeout = 300*time.Millisecond, 600*time.Millisecond })
	ids := []string{e.create("a"), e.create("b"), e.create("c")}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := e.provision(id, fast); err != nil {
				t.Errorf("provision %s: %v", id, err)
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		e.synced(id)
	}
	// b's CML hangs for 30 s on every call.
	e.sb.Simulator(e.load(ids[1]).InstanceID()).SetFaults(cmlsim.Faults{Latency: 30 * time.Second})
	start := time.Now()
	r := e.tick()
	took := time.Since(start)
	if took > 3*time.Second {
		t.Fatalf("tick took %s with one dead CML", took)
	}
	if r.MetricsCollected != 3 || r.CMLErrors < 1 {
		t.Fatalf("report %+v", r)
	}
	if !e.load(ids[0]).CMLReady() || !e.load(ids[2]).CMLReady() {
		t.Fatal("healthy workers lost CML ready")
	}
	if w := e.load(ids[1]); w.CMLReady() || w.View().CML.ServiceStatus != worker.ServiceUnavailable {
		t.Fatalf("dead CML recorded as %+v", w.View().CML)
	}
	t.Logf("tick with one dead CML: %s", took.Round(time.Millisecond))
}

func TestExternalStopAndOrphan(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create("ext")
	if _, err := e.provision(id, fast); err != nil {
		t.Fatal(err)
	}
	inst := e.load(id).InstanceID()
	// Stopped in the console: EC2 events arrive, the tick records an
	// external change and the desired power follows.
	if err := e.sb.Stop(e.ctx, region, inst); err != nil {
		t.Fatal(err)
	}
	e.waitFor("stopped", func() bool { return e.load(id).Status() == worker.StatusStopped })
	e.synced(id)
	e.clock.Advance(time.Minute)
	r := e.tick()
	if r.ExternalChanges != 1 || e.load(id).DesiredPower() != worker.PowerStopped {
		t.Fatalf("report %+v, desired %s", r, e.load(id).DesiredPower())
	}
	// An instance with our tag that no worker owns is reported, not terminated.
	orphan, err := e.sb.Launch(e.ctx, cloud.LaunchSpec{WorkerID: "w-unknown", Region: region, AMIID: sandbox.DefaultImages[0].ID, InstanceType: "m5zn.metal"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute)
	r = e.tick()
	if !slices.Contains(r.Orphans, orphan.ID) {
		t.Fatalf("orphans %v, want %s", r.Orphans, orphan.ID)
	}
	if in, _ := e.sb.Describe(e.ctx, region, []string{orphan.ID}); len(in) != 1 || in[0].State == cloud.StateTerminated || in[0].State == cloud.StateShuttingDown {
		t.Fatalf("orphan touched: %+v", in)
	}
}

func TestLicenseJobs(t *testing.T) {
	e := newEnv(t, nil)
	id := e.create("lic")
	if _, err := e.provision(id, fast); err != nil {
		t.Fatal(err)
	}
	if _, err := e.workers.Update(e.ctx, id, func(w *worker.Worker) error { return w.SetLicenseTokenConfigured(true) }); err != nil {
		t.Fatal(err)
	}
	jobs := monitor.NewLicenseJobs(e.workers, e.settings, tokens{}, nil, false, nil)
	if err := jobs.Register(e.ctx, id, false); err != nil {
		t.Fatal(err)
	}
	if op := e.load(id).LicenseOperation(); op != worker.LicenseRegistering {
		t.Fatalf("operation %q", op)
	}
	e.waitFor("registered", func() bool {
		done, err := jobs.Poll(e.ctx, id)
		return err == nil && done
	})
	if v := e.load(id).View().CML; v.LicenseStatus != worker.LicenseRegistered || v.LicenseOperation != "" {
		t.Fatalf("licence %+v", v)
	}
	if err := jobs.Deregister(e.ctx, id); err != nil {
		t.Fatal(err)
	}
	if v := e.load(id).View().CML; v.LicenseStatus != worker.LicenseUnregistered {
		t.Fatalf("after deregistration %+v", v)
	}
	types := map[string]bool{}
	for _, ev := range e.history(id) {
		types[ev.Type] = true
	}
	for _, ty := range []string{worker.TypeLicenseRegistrationStarted, worker.TypeLicenseRegistrationCompleted,
		worker.TypeLicenseDeregistrationStarted, worker.TypeLicenseDeregistrationComplete} {
		if !types[ty] {
			t.Errorf("no %s event", ty)
		}
	}
}

type tokens struct{}

func (tokens) LicenseToken(context.Context, string) (string, error) {
	return "test-token-" + fmt.Sprint(1), nil
}

func TestDue(t *testing.T) {
	base := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		interval time.Duration
		ticks    int
		want     int
	}{{time.Minute, 60, 60}, {5 * time.Minute, 60, 12}, {30 * time.Minute, 60, 2}, {2 * time.Hour, 60, 0}} {
		n := 0
		for i := range tc.ticks {
			if monitor.Due("w-1", tc.interval, base.Add(time.Duration(i)*time.Minute), base.Add(time.Duration(i+1)*time.Minute)) {
				n++
			}
		}
		if tc.want > 0 && n != tc.want || tc.want == 0 && n > 1 {
			t.Errorf("interval %s over %d ticks: due %d times, want %d", tc.interval, tc.ticks, n, tc.want)
		}
	}
}

var _ readmodel.Store = (*rmbolt.Store)(nil)
