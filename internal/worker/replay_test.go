package worker

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
)

// lifetime drives one worker through every kind of event, keeping them all
// pending, and a second (imported) worker for the import-only events.
func lifetime(t *testing.T) []*Worker {
	t.Helper()
	c := &clock{now: t0}
	w := New("w-life")
	run := func(actor string, f func() error) {
		t.Helper()
		w.Begin(event.Meta{Actor: actor, CorrelationID: "corr", Time: c.next()})
		if err := f(); err != nil {
			t.Fatalf("lifetime: %v", err)
		}
	}
	spec := baseSpec()
	spec.IdlePolicy = policy(45, 5, 30)
	spec.Schedule = &Schedule{Timezone: "Europe/Paris", Wakeups: []Wakeup{{Days: []string{"mon"}, At: "08:30"}}}
	spec.LicenseTokenConfigured = true
	run(admin, func() error { return w.Create(spec) })
	run("system:provision", func() error { return w.RecordProvisioningStep("launch") })
	run("system:provision", func() error {
		return w.AssignInstance(InstanceAssignment{InstanceID: instanceID, AMIID: "ami-0aaaabbbbccccdddd", InstanceType: "m5zn.metal", PrivateIP: "10.0.0.5"})
	})
	run("system:provision", func() error { return w.RecordProvisioningStep("wait-running") })
	run("system:ec2events", func() error { return w.ObserveEC2State(EC2Pending, c.now, "") })
	run("system:provision", func() error {
		return w.ObserveEC2(EC2Observation{State: EC2Running, ObservedAt: c.now, Details: &EC2Details{
			PublicIP: "203.0.113.10", PrivateIP: "10.0.0.5", SystemStatus: CheckInitializing, InstanceStatus: CheckInitializing}})
	})
	run("system:provision", func() error {
		return w.ObserveCML(CMLObservation{ServiceStatus: ServiceAvailable, Ready: true, Version: "2.9.0", LicenseStatus: LicenseUnregistered})
	})
	run("system:provision", func() error { return w.StartLicenseRegistration(false) })
	run("system:license", func() error { return w.CompleteLicenseRegistration(LicenseRegistered, "acme", "labs") })
	run("system:provision", func() error { return w.ProvisioningCompleted() })
	run(admin, func() error { return w.SetTags(map[string]string{"team": "sec"}) })
	run(admin, func() error { return w.SetIdlePolicy(nil) })
	run(admin, func() error { return w.SetSchedule(nil) })
	run("system:idle", func() error { return w.RecordActivity(c.now, "cml:start_lab") })
	c.now = c.now.Add(55 * time.Minute)
	run("system:idle", func() error { return w.IssueIdleWarning(c.now.Add(-50*time.Minute), c.now.Add(10*time.Minute)) })
	c.now = c.now.Add(10 * time.Minute)
	run("system:idle", func() error { return w.AutoPause(60) })
	run("system:ec2events", func() error { return w.ObserveEC2State(EC2Stopped, c.now, "User initiated") })
	run("system:schedule", func() error { return w.RequestStart("scheduled wake-up", true) })
	run("system:ec2events", func() error { return w.ObserveEC2State(EC2Running, c.now, "") })
	run(admin, func() error { return w.StartLicenseRegistration(true) })
	run("system:license", func() error { return w.FailLicenseRegistration("timed out after 90s", "timeout") })
	run(admin, func() error { return w.StartLicenseDeregistration() })
	run("system:license", func() error { return w.FailLicenseDeregistration("CSSM unreachable") })
	run(admin, func() error { return w.StartLicenseDeregistration() })
	run("system:license", func() error { return w.CompleteLicenseDeregistration("released") })
	run(admin, func() error { return w.SetLicenseTokenConfigured(false) })
	run("system:ec2events", func() error { return w.ObserveEC2State(EC2Stopped, c.now, "console") })
	run("system:reconcile", func() error { return w.RecordExternalChange("stopped in the console") })
	run(admin, func() error { return w.RequestTerminate("decommission") })
	run("system:ec2events", func() error { return w.ObserveEC2State(EC2Terminated, c.now, "") })
	run(admin, func() error { return w.Remove("cleanup") })

	// Another worker: imported, fails provisioning, terminated with no instance left.
	f := New("w-other")
	runF := func(actor string, fn func() error) {
		t.Helper()
		f.Begin(event.Meta{Actor: actor, Time: c.next()})
		if err := fn(); err != nil {
			t.Fatalf("lifetime (import): %v", err)
		}
	}
	runF("system:discovery", func() error {
		return f.Import(ImportSpec{Region: "us-east-1", InstanceID: "i-0aaaaaaaaaaaaaaaa", InstanceType: "c5n.metal", State: EC2Running, ObservedAt: c.now})
	})
	runF("system:provision", func() error { return f.RecordProvisioningStep("wait-cml-ready") })
	runF("system:provision", func() error { return f.ProvisioningFailed("", "CML never became ready") })
	runF("system:provision", func() error { return f.ObserveEC2State(EC2Terminated, c.now, "compensation") })
	runF(admin, func() error { return f.RequestTerminate("") })

	// And one stopped by a person.
	g := New("w-third")
	g.Begin(event.Meta{Actor: "system:discovery", Time: c.next()})
	if err := g.Import(ImportSpec{Region: "us-east-1", InstanceID: "i-0bbbbbbbbbbbbbbbb", InstanceType: "c5n.metal", State: EC2Running}); err != nil {
		t.Fatal(err)
	}
	g.Begin(event.Meta{Actor: "bob", Time: c.next()})
	if err := g.RequestStop("lunch", false); err != nil {
		t.Fatal(err)
	}
	return []*Worker{w, f, g}
}

func TestLifetimeCoversEveryEventType(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range lifetime(t) {
		for _, e := range w.Pending() {
			seen[e.Type] = true
		}
	}
	for _, typ := range Registry.Types() {
		if !seen[typ] {
			t.Errorf("lifetime never records %s", typ)
		}
	}
}

func TestReplayGivesTheSameView(t *testing.T) {
	for _, w := range lifetime(t) {
		t.Run(w.AggregateID(), func(t *testing.T) {
			fresh := replayed(t, w.AggregateID(), w.Pending())
			if got, want := mustJSON(t, fresh.View()), mustJSON(t, w.View()); got != want {
				t.Fatalf("replayed view differs:\n got %s\nwant %s", got, want)
			}
			_, a, _ := w.SnapshotState()
			_, b, _ := fresh.SnapshotState()
			if string(a) != string(b) {
				t.Fatalf("replayed state differs:\n got %s\nwant %s", b, a)
			}
			if fresh.Version() != w.Version() {
				t.Fatalf("version %d, want %d", fresh.Version(), w.Version())
			}
		})
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	workers := lifetime(t)
	for _, w := range workers {
		// Snapshot at every prefix, restore, replay the rest: same result.
		events := w.Pending()
		for cut := 1; cut < len(events); cut++ {
			head := replayed(t, w.AggregateID(), events[:cut])
			schema, state, err := head.SnapshotState()
			if err != nil || schema != SnapshotSchema {
				t.Fatalf("snapshot: %d %v", schema, err)
			}
			restored := New(w.AggregateID())
			if err := restored.RestoreSnapshot(schema, head.Version(), state); err != nil {
				t.Fatal(err)
			}
			for _, e := range events[cut:] {
				if err := restored.ReplayEvent(e); err != nil {
					t.Fatalf("cut %d: %v", cut, err)
				}
			}
			if got, want := mustJSON(t, restored.View()), mustJSON(t, w.View()); got != want {
				t.Fatalf("cut %d: view differs:\n got %s\nwant %s", cut, got, want)
			}
		}
	}
	w := workers[0]
	_, state, _ := w.SnapshotState()
	err := New("x").RestoreSnapshot(SnapshotSchema+1, 3, state)
	if !errors.Is(err, event.ErrSnapshotSchema) {
		t.Fatalf("unknown schema: %v", err)
	}
	if err := New("x").RestoreSnapshot(SnapshotSchema, 3, json.RawMessage(`{"created":`)); err == nil || errors.Is(err, event.ErrSnapshotSchema) {
		t.Fatalf("corrupt snapshot: %v", err)
	}
}

func TestEventsCarryTheEnvelope(t *testing.T) {
	w := lifetime(t)[0]
	for i, e := range w.Pending() {
		if e.ID == "" || e.AggregateID != "w-life" || e.AggregateType != AggregateType || e.Version != int64(i+1) ||
			e.Actor == "" || e.Time.IsZero() || e.SchemaVersion != event.SchemaVersion || !json.Valid(e.Data) {
			t.Fatalf("event %d: %+v", i, e)
		}
		if _, err := Registry.Decode(e); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.IsSortedFunc(w.Pending(), func(a, b event.Event) int { return a.Time.Compare(b.Time) }) {
		t.Fatal("events out of time order")
	}
}

func TestViewShape(t *testing.T) {
	w, _ := given(t, "running")
	var m map[string]any
	if err := json.Unmarshal([]byte(mustJSON(t, w.View())), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "name", "region", "instanceType", "amiId", "amiName", "status", "desiredPower",
		"instanceId", "publicIp", "privateIp", "endpoint", "tags", "cml", "idle", "provisioning", "ec2", "activity",
		"schedule", "createdAt", "updatedAt", "terminatedAt", "terminatedBy", "version"} {
		if _, ok := m[k]; !ok {
			t.Errorf("view has no %q", k)
		}
	}
	nested := map[string][]string{
		"cml":          {"ready", "version", "licenseStatus", "serviceStatus", "licenseTokenConfigured"},
		"idle":         {"policy", "lastActivityAt", "idleSince", "pauseAt"},
		"provisioning": {"step", "startedAt", "stepStartedAt", "error", "failedStep"},
		"ec2":          {"state", "observedAt", "systemStatus", "instanceStatus"},
		"activity": {"autoPauseCount", "manualPauseCount", "autoResumeCount", "manualResumeCount", "lastPausedAt",
			"lastPausedBy", "lastPauseReason", "lastPauseIdleMinutes", "lastResumedAt", "lastResumedBy"},
	}
	for obj, keys := range nested {
		sub, _ := m[obj].(map[string]any)
		for _, k := range keys {
			if _, ok := sub[k]; !ok {
				t.Errorf("view.%s has no %q", obj, k)
			}
		}
	}
	v := w.View()
	if v.Endpoint != "https://203.0.113.10" || v.Idle.IdleSince == nil || v.Tags["team"] != "netops" {
		t.Fatalf("view %s", mustJSON(t, v))
	}
	// The view is a copy: changing it does not change the worker.
	v.Tags["team"] = "x"
	if w.View().Tags["team"] != "netops" {
		t.Fatal("view shares the tags map")
	}
}
