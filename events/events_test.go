package events

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/idle"
	"github.com/cmlcm/cmlcm/internal/lab"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/worker"
)

var registries = map[string]event.Registry{
	"worker":   worker.Registry,
	"lab":      lab.Registry,
	"settings": settings.Registry,
}

func registeredTypes() []string {
	var out []string
	for _, r := range registries {
		out = append(out, r.Types()...)
	}
	slices.Sort(out)
	return out
}

// (a) No event type without a schema, no schema without an event type.
func TestEveryTypeHasASchemaAndEverySchemaAType(t *testing.T) {
	registered := registeredTypes()
	files := Types()
	for _, typ := range registered {
		if !slices.Contains(files, typ) {
			t.Errorf("event type %s has no schemas/%s.json", typ, typ)
		}
	}
	for _, f := range files {
		if !slices.Contains(registered, f) {
			t.Errorf("schemas/%s.json is an orphan: no registry has that type", f)
		}
	}
	if _, err := Schema("envelope"); err != nil {
		t.Fatal(err)
	}
	// Every schema compiles, and names itself.
	if _, err := load(); err != nil {
		t.Fatal(err)
	}
	for _, typ := range files {
		b, _ := Schema(typ)
		var doc struct {
			ID    string `json:"$id"`
			Title string `json:"title"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.ID != BaseURL+typ+".json" || doc.Title != typ {
			t.Errorf("%s: $id %q title %q", typ, doc.ID, doc.Title)
		}
	}
}

// driver runs commands on aggregates with a moving clock and collects
// every event they record.
type driver struct {
	t      *testing.T
	now    time.Time
	events []event.Event
	ran    map[string]bool
}

type aggregate interface {
	Begin(event.Meta)
	Pending() []event.Event
	MarkCommitted()
}

func (d *driver) do(a aggregate, actor, command string, f func() error) {
	d.t.Helper()
	d.now = d.now.Add(time.Minute)
	a.Begin(event.Meta{Actor: actor, CorrelationID: "req-" + command, Time: d.now})
	if err := f(); err != nil {
		d.t.Fatalf("%s: %v", command, err)
	}
	d.events = append(d.events, a.Pending()...)
	a.MarkCommitted()
	d.ran[command] = true
}

// drive runs every command of the three aggregates at least once.
func drive(t *testing.T) *driver {
	d := &driver{t: t, now: time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC), ran: map[string]bool{}}
	const inst = "i-0123456789abcdef0"

	w := worker.New("0194f6c5-1b2a-7c3d-8e4f-000000000001")
	d.do(w, "alice", "Create", func() error {
		return w.Create(worker.CreateSpec{Name: "paris-1", Region: "eu-west-3", InstanceType: "m5zn.metal",
			AMIName: "cisco-cml2.9-*", Tags: map[string]string{"team": "netops"}, IdlePolicy: &idle.Policy{Enabled: true,
				TimeoutMinutes: 45, WarningMinutes: 5, SnoozeMinutes: 30, CPUThresholdPercent: ptr(20.0)},
			Schedule:               &worker.Schedule{Timezone: "Europe/Paris", Wakeups: []worker.Wakeup{{Days: []string{"mon", "fri"}, At: "08:30"}}},
			LicenseTokenConfigured: true})
	})
	d.do(w, "system:provision", "RecordProvisioningStep", func() error { return w.RecordProvisioningStep("launch") })
	d.do(w, "system:provision", "AssignInstance", func() error {
		return w.AssignInstance(worker.InstanceAssignment{InstanceID: inst, AMIID: "ami-0abcdef1234567890", InstanceType: "m5zn.metal", PrivateIP: "10.0.1.5"})
	})
	d.do(w, "system:ec2events", "ObserveEC2State", func() error { return w.ObserveEC2State(worker.EC2Pending, d.now, "") })
	d.do(w, "system:provision", "ObserveEC2", func() error {
		return w.ObserveEC2(worker.EC2Observation{InstanceID: inst, State: worker.EC2Running, ObservedAt: d.now, Details: &worker.EC2Details{
			PublicIP: "203.0.113.10", PrivateIP: "10.0.1.5", SystemStatus: worker.CheckOK, InstanceStatus: worker.CheckOK,
			InstanceType: "m5zn.metal", AMIID: "ami-0abcdef1234567890"}})
	})
	d.do(w, "system:provision", "ObserveCML", func() error {
		return w.ObserveCML(worker.CMLObservation{ServiceStatus: worker.ServiceAvailable, Ready: true, Version: "2.9.0", LicenseStatus: worker.LicenseUnregistered})
	})
	d.do(w, "system:provision", "StartLicenseRegistration", func() error { return w.StartLicenseRegistration(false) })
	d.do(w, "system:license", "CompleteLicenseRegistration", func() error {
		return w.CompleteLicenseRegistration(worker.LicenseRegistered, "acme", "labs")
	})
	d.do(w, "system:provision", "ProvisioningCompleted", func() error { return w.ProvisioningCompleted() })
	d.do(w, "alice", "StartLicenseRegistration(re)", func() error { return w.StartLicenseRegistration(true) })
	d.do(w, "system:license", "FailLicenseRegistration", func() error { return w.FailLicenseRegistration("token expired", "403") })
	d.do(w, "alice", "StartLicenseDeregistration", func() error { return w.StartLicenseDeregistration() })
	d.do(w, "system:license", "FailLicenseDeregistration", func() error { return w.FailLicenseDeregistration("CSSM unreachable") })
	d.do(w, "alice", "StartLicenseDeregistration(again)", func() error { return w.StartLicenseDeregistration() })
	d.do(w, "system:license", "CompleteLicenseDeregistration", func() error { return w.CompleteLicenseDeregistration("released") })
	d.do(w, "alice", "SetLicenseTokenConfigured", func() error { return w.SetLicenseTokenConfigured(false) })
	d.do(w, "alice", "SetTags", func() error { return w.SetTags(map[string]string{"team": "sec", "course": "ccnp"}) })
	d.do(w, "alice", "SetTags(clear)", func() error { return w.SetTags(nil) })
	d.do(w, "alice", "SetIdlePolicy", func() error {
		return w.SetIdlePolicy(&idle.Policy{Enabled: true, TimeoutMinutes: 60, WarningMinutes: 10, SnoozeMinutes: 60})
	})
	d.do(w, "alice", "SetIdlePolicy(fleet)", func() error { return w.SetIdlePolicy(nil) })
	d.do(w, "alice", "SetSchedule", func() error {
		return w.SetSchedule(&worker.Schedule{Timezone: "UTC", Wakeups: []worker.Wakeup{{Days: []string{"tue"}, At: "07:00"}}})
	})
	d.do(w, "alice", "SetSchedule(clear)", func() error { return w.SetSchedule(nil) })
	d.do(w, "system:idle", "RecordActivity", func() error { return w.RecordActivity(d.now, "cml:start_lab") })
	d.now = d.now.Add(55 * time.Minute)
	d.do(w, "system:idle", "IssueIdleWarning", func() error { return w.IssueIdleWarning(d.now.Add(-50*time.Minute), d.now.Add(10*time.Minute)) })
	d.do(w, "bob", "RecordActivity(keep running)", func() error { return w.RecordActivity(d.now, "keep-running") })
	d.now = d.now.Add(2 * time.Hour)
	d.do(w, "system:idle", "AutoPause", func() error { return w.AutoPause(120) })
	d.do(w, "system:ec2events", "ObserveEC2State(stopped)", func() error {
		return w.ObserveEC2State(worker.EC2Stopped, d.now, "User initiated (2025-03-10 11:00:00 GMT)")
	})
	d.do(w, "system:schedule", "RequestStart(auto)", func() error { return w.RequestStart("scheduled wake-up", true) })
	d.do(w, "bob", "RequestStop(deferred)", func() error { return w.RequestStop("changed my mind", false) })
	d.do(w, "system:ec2events", "ObserveEC2State(running)", func() error { return w.ObserveEC2State(worker.EC2Running, d.now, "") })
	d.do(w, "system:reconcile", "RequestStop", func() error { return w.RequestStop("reconcile", false) })
	d.do(w, "bob", "RequestStart(deferred)", func() error { return w.RequestStart("", false) })
	d.do(w, "system:ec2events", "ObserveEC2State(stopped again)", func() error { return w.ObserveEC2State(worker.EC2Stopped, d.now, "") })
	d.do(w, "system:reconcile", "RecordExternalChange", func() error { return w.RecordExternalChange("stopped in the console") })
	d.do(w, "carol", "RequestStart", func() error { return w.RequestStart("lab class", false) })
	d.do(w, "alice", "RequestTerminate", func() error { return w.RequestTerminate("decommission") })
	d.do(w, "system:ec2events", "ObserveEC2State(terminated)", func() error { return w.ObserveEC2State(worker.EC2Terminated, d.now, "") })
	d.do(w, "alice", "Remove", func() error { return w.Remove("cleanup") })

	imp := worker.New("0194f6c5-1b2a-7c3d-8e4f-000000000002")
	d.do(imp, "system:discovery", "Import", func() error {
		return imp.Import(worker.ImportSpec{Region: "us-east-1", InstanceID: "i-0aaaaaaaaaaaaaaaa", InstanceType: "c5n.metal",
			AMIID: "ami-0bbbbbbbbbbbbbbbb", AMIName: "cisco-cml2.9-lablet-v0.1.0", State: worker.EC2Running, ObservedAt: d.now,
			PublicIP: "198.51.100.7", PrivateIP: "10.0.2.9", Tags: map[string]string{"Name": "legacy", "owner": "bob"},
			IdlePolicy: &idle.Policy{Enabled: false, TimeoutMinutes: 60, WarningMinutes: 0, SnoozeMinutes: 0}})
	})
	d.do(imp, "system:provision", "RecordProvisioningStep(join)", func() error { return imp.RecordProvisioningStep("wait-cml-ready") })
	d.do(imp, "system:provision", "ProvisioningFailed", func() error { return imp.ProvisioningFailed("", "CML API did not become ready in 30m") })
	d.do(imp, "alice", "RequestTerminate(failed)", func() error { return imp.RequestTerminate("") })

	none := worker.New("0194f6c5-1b2a-7c3d-8e4f-000000000003")
	d.do(none, "alice", "Create(ami id)", func() error {
		return none.Create(worker.CreateSpec{Name: "short-lived", Region: "us-west-2", InstanceType: "t3.xlarge", AMIID: "ami-0ccccdddd"})
	})
	d.do(none, "alice", "RequestTerminate(no instance)", func() error { return none.RequestTerminate("created by mistake") })

	l := lab.New(lab.ID(w.AggregateID(), "8c1f0a3e-5f5b-4ad2-9d7e-2d1b6b0c9a11"))
	snap := lab.Snapshot{LabID: "8c1f0a3e-5f5b-4ad2-9d7e-2d1b6b0c9a11", Title: "BGP", Description: "two routers",
		State: lab.StateDefinedOnCore, Owner: "alice", NodeCount: 2, LinkCount: 1,
		CreatedAt: d.now.Add(-time.Hour), ModifiedAt: d.now.Add(-time.Hour)}
	d.do(l, "system:labs", "Observe(discover)", func() error { return l.Observe(snap) })
	snap.State, snap.NodeCount = lab.StateStarted, 3
	d.do(l, "system:labs", "Observe(state)", func() error { return l.Observe(snap) })
	snap.Title = "BGP v2"
	d.do(l, "system:labs", "Observe(update)", func() error { return l.Observe(snap) })
	d.do(l, "system:labs", "Remove(lab)", func() error { return l.Remove("deleted in CML") })
	plain := lab.New(lab.ID(w.AggregateID(), "lab-2"))
	d.do(plain, "system:labs", "Observe(no dates)", func() error {
		return plain.Observe(lab.Snapshot{LabID: "lab-2", State: lab.StateStopped})
	})

	s := settings.New(settings.ID)
	d.do(s, "admin", "Update", func() error {
		return s.Update(json.RawMessage(`{"intervals":{"metricsSeconds":120},"prices":{"t3.medium":null,"x2iezn.metal":13.344},
			"provisioning":{"amis":{"eu-west-3":{"id":"ami-0123456789abcdef0","name":"cml"}},"subnets":{"eu-west-3":["subnet-0aa","subnet-0bb"]},
			"securityGroups":{"eu-west-3":["sg-0cc"]},"keyPairName":"cml","rootVolumeGiB":200,"instanceProfile":"cml-worker","keepFailedInstance":true,
			"timeouts":{"cmlReadyMinutes":25}},"discovery":{"enabled":true,"regions":["eu-west-3"],"tagKey":"lab","tagValue":"cml","amiNamePattern":"cml-*"},
			"idlePolicy":{"timeoutMinutes":30,"cpuThresholdPercent":10},"telemetryRetentionDays":30,"license":{"pollSeconds":10}}`))
	})
	d.do(s, "admin", "Update(removals)", func() error {
		return s.Update(json.RawMessage(`{"provisioning":{"amis":{"eu-west-3":{"id":null}},"subnets":{"eu-west-3":null}},"idlePolicy":{"cpuThresholdPercent":null}}`))
	})
	d.do(s, "admin", "Replace", func() error {
		v := s.Values()
		v.Intervals.IdleCheckSeconds = 120
		return s.Replace(v)
	})
	return d
}

func ptr[T any](v T) *T { return &v }

// (b) Every event type, produced by running the commands, validates.
func TestEveryEmittedEventValidates(t *testing.T) {
	d := drive(t)
	produced := map[string]int{}
	for _, e := range d.events {
		produced[e.Type]++
		if err := Validate(e); err != nil {
			t.Errorf("%v\n  data: %s", err, e.Data)
		}
	}
	for _, typ := range registeredTypes() {
		if produced[typ] == 0 {
			t.Errorf("no command in the table produces %s", typ)
		}
	}
	t.Logf("%d events of %d types from %d commands", len(d.events), len(produced), len(d.ran))
}

// The schemas are strict: extra, missing or mistyped fields fail.
func TestSchemasAreStrict(t *testing.T) {
	d := drive(t)
	byType := map[string]event.Event{}
	for _, e := range d.events {
		if _, ok := byType[e.Type]; !ok {
			byType[e.Type] = e
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(byType)) {
		e := byType[typ]
		var data map[string]any
		if err := json.Unmarshal(e.Data, &data); err != nil {
			t.Fatal(err)
		}
		extra := maps.Clone(data)
		extra["licenseToken"] = "secret"
		if err := Validate(with(e, extra)); err == nil {
			t.Errorf("%s accepts an unknown field", typ)
		}
		for k := range data {
			wrong := maps.Clone(data)
			wrong[k] = []int{1}
			if err := Validate(with(e, wrong)); err == nil {
				t.Errorf("%s accepts %s of the wrong type", typ, k)
			}
		}
		b, _ := Schema(typ)
		var schema struct {
			Required []string `json:"required"`
		}
		if err := json.Unmarshal(b, &schema); err != nil {
			t.Fatal(err)
		}
		for _, k := range schema.Required {
			missing := maps.Clone(data)
			delete(missing, k)
			if err := Validate(with(e, missing)); err == nil {
				t.Errorf("%s accepts a payload without %s", typ, k)
			}
		}
	}
	e := byType[worker.TypePaused]
	bad := e
	bad.SchemaVersion = 2
	if err := Validate(bad); err == nil || !strings.Contains(err.Error(), "envelope") {
		t.Errorf("envelope with schema version 2: %v", err)
	}
	bad = e
	bad.Type = "cml.worker.unknown.v1"
	if err := Validate(bad); err == nil {
		t.Error("unknown type validates")
	}
	bad = e
	bad.CorrelationID = ""
	if err := Validate(bad); err == nil {
		t.Error("event without correlation id validates")
	}
}

func with(e event.Event, data map[string]any) event.Event {
	b, _ := json.Marshal(data)
	e.Data = b
	return e
}

// Secrets never travel in events.
func TestNoSecretsInEvents(t *testing.T) {
	for _, e := range drive(t).events {
		if strings.Contains(strings.ToLower(string(e.Data)), `token"`) {
			t.Errorf("%s carries a token field: %s", e.Type, e.Data)
		}
	}
}
