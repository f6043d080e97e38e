package worker

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/idle"
)

func TestCreate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*CreateSpec)
		field string // "" = valid
	}{
		{"valid", func(*CreateSpec) {}, ""},
		{"ami name only", func(s *CreateSpec) { s.AMIID, s.AMIName = "", "cml-2.9-*" }, ""},
		{"with policy and schedule", func(s *CreateSpec) {
			s.IdlePolicy = policy(30, 5, 15)
			s.Schedule = &Schedule{Timezone: "Europe/Paris", Wakeups: []Wakeup{{Days: []string{"fri", "mon"}, At: "08:30"}}}
		}, ""},
		{"no name", func(s *CreateSpec) { s.Name = "  " }, "name"},
		{"long name", func(s *CreateSpec) { s.Name = strings.Repeat("x", MaxNameLength+1) }, "name"},
		{"control chars", func(s *CreateSpec) { s.Name = "a\nb" }, "name"},
		{"bad region", func(s *CreateSpec) { s.Region = "paris" }, "region"},
		{"bad instance type", func(s *CreateSpec) { s.InstanceType = "metal" }, "instanceType"},
		{"bad ami", func(s *CreateSpec) { s.AMIID = "img-1" }, "amiId"},
		{"no ami", func(s *CreateSpec) { s.AMIID = "" }, "amiId"},
		{"managed tag", func(s *CreateSpec) { s.Tags = map[string]string{"cmlcm:managed": "false"} }, "tags.cmlcm:managed"},
		{"bad policy", func(s *CreateSpec) { s.IdlePolicy = policy(10, 10, 0) }, "idlePolicy.warningMinutes"},
		{"bad schedule", func(s *CreateSpec) { s.Schedule = &Schedule{Timezone: "Mars/Olympus"} }, "schedule.timezone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := baseSpec()
			tt.edit(&spec)
			w := New("w-1")
			w.Begin(event.Meta{Actor: admin, Time: t0})
			err := w.Create(spec)
			if tt.field != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) || ve.Field != tt.field || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Create() = %v, want a ValidationError on %s", err, tt.field)
				}
				if len(w.Pending()) != 0 {
					t.Fatal("an invalid create recorded events")
				}
				return
			}
			wantErr(t, err)
			v := w.View()
			if v.Status != StatusProvisioning || v.DesiredPower != PowerRunning || v.Provisioning.State != ProvisioningInProgress {
				t.Fatalf("view after create: status %s desired %s provisioning %s", v.Status, v.DesiredPower, v.Provisioning.State)
			}
			if v.CreatedBy != admin || !v.CreatedAt.Equal(t0) || v.Version != 1 {
				t.Fatalf("created by %q at %v version %d", v.CreatedBy, v.CreatedAt, v.Version)
			}
		})
	}
	t.Run("twice", func(t *testing.T) {
		w, _ := given(t, "running")
		wantErr(t, w.Create(baseSpec()), ErrTransition, ErrExists)
	})
	t.Run("days are stored in week order", func(t *testing.T) {
		spec := baseSpec()
		spec.Schedule = &Schedule{Timezone: "UTC", Wakeups: []Wakeup{{Days: []string{"fri", "mon", "sun"}, At: "07:00"}}}
		w := New("w-1")
		w.Begin(event.Meta{Actor: admin, Time: t0})
		wantErr(t, w.Create(spec))
		if got := strings.Join(w.View().Schedule.Wakeups[0].Days, ","); got != "sun,mon,fri" {
			t.Fatalf("days %s", got)
		}
	})
}

func TestImport(t *testing.T) {
	tests := []struct {
		state   EC2State
		status  Status
		desired Power
		bad     bool
	}{
		{EC2Pending, StatusPending, PowerRunning, false},
		{EC2Running, StatusRunning, PowerRunning, false},
		{EC2Stopping, StatusStopping, PowerStopped, false},
		{EC2Stopped, StatusStopped, PowerStopped, false},
		{EC2ShuttingDown, "", "", true},
		{EC2Terminated, "", "", true},
		{"rebooting", "", "", true},
	}
	for _, tt := range tests {
		t.Run(string(tt.state), func(t *testing.T) {
			w := New("w-imp")
			w.Begin(event.Meta{Actor: "system:discovery", Time: t0})
			err := w.Import(ImportSpec{Region: "us-east-1", InstanceID: instanceID, InstanceType: "c5n.metal",
				AMIName: "cisco-cml2.9-lablet-v0.1.0", State: tt.state, ObservedAt: t0.Add(-time.Minute),
				PublicIP: "198.51.100.7", Tags: map[string]string{"Name": "old-worker", "cmlcm:managed": "true", "owner": "bob", "aws:cloudformation:stack": "x"}})
			if tt.bad {
				wantErr(t, err, ErrInvalid)
				return
			}
			wantErr(t, err)
			v := w.View()
			if v.Status != tt.status || v.DesiredPower != tt.desired || !v.Imported || v.Provisioning.State != "" {
				t.Fatalf("status %s desired %s imported %v provisioning %q", v.Status, v.DesiredPower, v.Imported, v.Provisioning.State)
			}
			if v.Name != "old-worker" || len(v.Tags) != 1 || v.Tags["owner"] != "bob" {
				t.Fatalf("name %q tags %v", v.Name, v.Tags)
			}
			if v.Endpoint != "https://198.51.100.7" || v.EC2.State != tt.state {
				t.Fatalf("endpoint %q ec2 %s", v.Endpoint, v.EC2.State)
			}
		})
	}
	t.Run("name falls back to the instance id", func(t *testing.T) {
		w := New("w-imp")
		w.Begin(event.Meta{Actor: admin, Time: t0})
		wantErr(t, w.Import(ImportSpec{Region: "us-east-1", InstanceID: instanceID, InstanceType: "c5n.metal", State: EC2Stopped}))
		if w.Name() != "worker-"+instanceID {
			t.Fatalf("name %q", w.Name())
		}
	})
	t.Run("bad instance id", func(t *testing.T) {
		w := New("w-imp")
		w.Begin(event.Meta{Actor: admin, Time: t0})
		wantErr(t, w.Import(ImportSpec{Region: "us-east-1", InstanceID: "vm-1", InstanceType: "c5n.metal", State: EC2Stopped}), ErrInvalid)
	})
}

// command names used by the transition tables.
var intents = map[string]func(*Worker) error{
	"start":         func(w *Worker) error { return w.RequestStart("", false) },
	"stop":          func(w *Worker) error { return w.RequestStop("", false) },
	"auto-pause":    func(w *Worker) error { return w.AutoPause(1) },
	"terminate":     func(w *Worker) error { return w.RequestTerminate("") },
	"remove":        func(w *Worker) error { return w.Remove("") },
	"external":      func(w *Worker) error { return w.RecordExternalChange("console") },
	"assign":        func(w *Worker) error { return w.AssignInstance(InstanceAssignment{InstanceID: "i-0fedcba9876543210"}) },
	"step":          func(w *Worker) error { return w.RecordProvisioningStep("wait-status-ok") },
	"fail":          func(w *Worker) error { return w.ProvisioningFailed("", "boom") },
	"complete":      func(w *Worker) error { return w.ProvisioningCompleted() },
	"token":         func(w *Worker) error { return w.SetLicenseTokenConfigured(true) },
	"register":      func(w *Worker) error { return w.StartLicenseRegistration(false) },
	"register-done": func(w *Worker) error { return w.CompleteLicenseRegistration(LicenseRegistered, "", "") },
	"register-fail": func(w *Worker) error { return w.FailLicenseRegistration("refused", "400") },
	"deregister":    func(w *Worker) error { return w.StartLicenseDeregistration() },
	"dereg-done":    func(w *Worker) error { return w.CompleteLicenseDeregistration("") },
	"dereg-fail":    func(w *Worker) error { return w.FailLicenseDeregistration("timeout") },
	"policy":        func(w *Worker) error { return w.SetIdlePolicy(policy(30, 5, 30)) },
	"schedule": func(w *Worker) error {
		return w.SetSchedule(&Schedule{Timezone: "UTC", Wakeups: []Wakeup{{Days: []string{"mon"}, At: "08:00"}}})
	},
	"warn":   func(w *Worker) error { return w.IssueIdleWarning(t0, t0.Add(time.Hour)) },
	"tags":   func(w *Worker) error { return w.SetTags(map[string]string{"team": "sec"}) },
	"create": func(w *Worker) error { return w.Create(baseSpec()) },
	"import": func(w *Worker) error {
		return w.Import(ImportSpec{Region: "us-east-1", InstanceID: instanceID, InstanceType: "c5n.metal", State: EC2Running})
	},
	"same-instance":  func(w *Worker) error { return w.AssignInstance(InstanceAssignment{InstanceID: instanceID}) },
	"clear-policy":   func(w *Worker) error { return w.SetIdlePolicy(nil) },
	"clear-schedule": func(w *Worker) error { return w.SetSchedule(nil) },
}

// observations are ignored (no error, no event) on terminated and removed workers.
var observations = map[string]func(*Worker) error{
	"ec2-running": func(w *Worker) error { return w.ObserveEC2State(EC2Running, t0.Add(24*time.Hour), "") },
	"ec2-old":     func(w *Worker) error { return w.ObserveEC2State(EC2Stopped, t0, "") },
	"cml": func(w *Worker) error {
		return w.ObserveCML(CMLObservation{ServiceStatus: ServiceAvailable, Ready: true})
	},
	"activity": func(w *Worker) error { return w.RecordActivity(t0.Add(23*time.Hour), "cml") },
}

func TestTransitions(t *testing.T) {
	tests := []struct {
		state string
		cmd   string
		errs  []error  // nil: accepted
		types []string // events recorded when accepted
		check func(t *testing.T, v View)
	}{
		// provisioning: the workflow owns the power state.
		{"provisioning", "start", []error{ErrTransition, ErrProvisioning}, nil, nil},
		{"provisioning", "stop", []error{ErrTransition, ErrProvisioning}, nil, nil},
		{"provisioning", "auto-pause", []error{ErrProvisioning}, nil, nil},
		{"provisioning", "remove", []error{ErrProvisioning}, nil, nil},
		{"provisioning", "external", []error{ErrProvisioning}, nil, nil},
		{"provisioning", "complete", []error{ErrNoInstance}, nil, nil},
		{"provisioning", "terminate", nil, []string{TypeTerminationRequested, TypeTerminated}, func(t *testing.T, v View) {
			if v.Status != StatusTerminated || v.TerminatedBy != admin || v.Provisioning.State != ProvisioningCancelled {
				t.Fatalf("status %s by %q provisioning %s", v.Status, v.TerminatedBy, v.Provisioning.State)
			}
		}},
		{"provisioning", "assign", nil, []string{TypeInstanceAssigned}, nil},
		{"provisioning", "step", nil, []string{TypeProvisioningStep}, func(t *testing.T, v View) {
			if v.Provisioning.Step != "wait-status-ok" || v.Provisioning.StepStartedAt == nil {
				t.Fatalf("provisioning %+v", v.Provisioning)
			}
		}},
		{"provisioning", "fail", nil, []string{TypeProvisioningFailed}, func(t *testing.T, v View) {
			if v.Status != StatusFailed || v.Provisioning.Error != "boom" || v.Provisioning.FailedStep != "unknown" {
				t.Fatalf("status %s provisioning %+v", v.Status, v.Provisioning)
			}
		}},
		{"provisioning+inst", "assign", []error{ErrTransition}, nil, nil},
		{"provisioning+inst", "same-instance", nil, nil, nil},
		{"provisioning+inst", "fail", nil, []string{TypeProvisioningFailed}, func(t *testing.T, v View) {
			if v.Provisioning.FailedStep != "launch" {
				t.Fatalf("failed step %q", v.Provisioning.FailedStep)
			}
		}},
		{"provisioning+inst", "terminate", nil, []string{TypeTerminationRequested}, func(t *testing.T, v View) {
			if v.Status != StatusShuttingDown || v.DesiredPower != PowerTerminated {
				t.Fatalf("status %s desired %s", v.Status, v.DesiredPower)
			}
		}},
		{"provisioning-run", "start", []error{ErrProvisioning}, nil, nil},
		{"provisioning-run", "stop", []error{ErrProvisioning}, nil, nil},
		{"provisioning-run", "warn", []error{ErrProvisioning}, nil, nil},
		{"provisioning-run", "complete", nil, []string{TypeProvisioningCompleted}, func(t *testing.T, v View) {
			if v.Provisioning.State != ProvisioningCompleted || v.Provisioning.Step != "" || v.Provisioning.CompletedAt == nil {
				t.Fatalf("provisioning %+v", v.Provisioning)
			}
		}},

		// running.
		{"running", "start", []error{ErrTransition, ErrAlreadyInState}, nil, nil},
		{"running", "stop", nil, []string{TypePaused}, func(t *testing.T, v View) {
			if v.Status != StatusStopping || v.DesiredPower != PowerStopped || v.Activity.ManualPauseCount != 1 || v.Activity.AutoPauseCount != 0 {
				t.Fatalf("status %s desired %s activity %+v", v.Status, v.DesiredPower, v.Activity)
			}
		}},
		{"running", "auto-pause", nil, []string{TypePaused}, nil},
		{"running", "terminate", nil, []string{TypeTerminationRequested}, nil},
		{"running", "remove", nil, []string{TypeRemoved}, nil},
		{"running", "external", nil, nil, nil},
		{"running", "step", []error{ErrTransition}, nil, nil},
		{"running", "complete", []error{ErrTransition}, nil, nil},
		{"running", "fail", []error{ErrTransition}, nil, nil},
		{"running", "assign", []error{ErrTransition}, nil, nil},
		{"running", "register", []error{ErrTransition}, nil, nil}, // no token configured
		{"running", "register-done", []error{ErrTransition}, nil, nil},
		{"running", "register-fail", []error{ErrTransition}, nil, nil},
		{"running", "deregister", []error{ErrAlreadyInState}, nil, nil}, // CML said unregistered
		{"running", "dereg-done", []error{ErrTransition}, nil, nil},
		{"running", "dereg-fail", []error{ErrTransition}, nil, nil},
		{"running", "token", nil, []string{TypeLicenseTokenChanged}, func(t *testing.T, v View) {
			if !v.CML.LicenseTokenConfigured {
				t.Fatal("token not configured")
			}
		}},
		{"running", "policy", nil, []string{TypeIdlePolicyChanged}, nil},
		{"running", "clear-policy", nil, nil, nil},
		{"running", "schedule", nil, []string{TypeScheduleChanged}, nil},
		{"running", "clear-schedule", nil, nil, nil},
		{"running", "tags", nil, []string{TypeTagsChanged}, nil},
		{"running", "warn", nil, []string{TypeIdleWarningIssued}, nil},
		{"running", "create", []error{ErrExists}, nil, nil},
		{"running", "import", []error{ErrExists}, nil, nil},

		// stopping: a start is deferred until the instance is stopped.
		{"stopping", "stop", []error{ErrAlreadyInState}, nil, nil},
		{"stopping", "start", nil, []string{TypeResumed}, func(t *testing.T, v View) {
			if v.Status != StatusStopping || v.DesiredPower != PowerRunning || v.Activity.ManualResumeCount != 1 {
				t.Fatalf("status %s desired %s resumes %d", v.Status, v.DesiredPower, v.Activity.ManualResumeCount)
			}
		}},
		{"stopping", "auto-pause", []error{ErrNotRunning}, nil, nil},
		{"stopping", "warn", []error{ErrNotRunning}, nil, nil},

		// stopped.
		{"stopped", "stop", []error{ErrTransition, ErrAlreadyInState}, nil, nil},
		{"stopped", "start", nil, []string{TypeResumed}, func(t *testing.T, v View) {
			if v.Status != StatusPending || v.DesiredPower != PowerRunning || v.Activity.ManualResumeCount != 1 || v.Activity.LastResumedBy != admin {
				t.Fatalf("status %s desired %s activity %+v", v.Status, v.DesiredPower, v.Activity)
			}
		}},
		{"stopped", "auto-pause", []error{ErrNotRunning}, nil, nil},
		{"stopped", "register", []error{ErrTransition}, nil, nil},
		{"stopped", "deregister", []error{ErrNotRunning}, nil, nil},
		{"stopped", "terminate", nil, []string{TypeTerminationRequested}, nil},
		{"stopped", "external", nil, nil, nil},

		// pending: a stop is deferred until the instance runs.
		{"pending", "start", []error{ErrAlreadyInState}, nil, nil},
		{"pending", "stop", nil, []string{TypePaused}, func(t *testing.T, v View) {
			if v.Status != StatusPending || v.DesiredPower != PowerStopped {
				t.Fatalf("status %s desired %s", v.Status, v.DesiredPower)
			}
		}},
		{"pending", "auto-pause", []error{ErrNotRunning}, nil, nil},

		// shutting-down.
		{"shutting-down", "start", []error{ErrTransition}, nil, nil},
		{"shutting-down", "stop", []error{ErrTransition}, nil, nil},
		{"shutting-down", "terminate", []error{ErrAlreadyInState}, nil, nil},
		{"shutting-down", "remove", nil, []string{TypeRemoved}, nil},

		// failed: only terminate and remove.
		{"failed", "start", []error{ErrFailed}, nil, nil},
		{"failed", "stop", []error{ErrFailed}, nil, nil},
		{"failed", "auto-pause", []error{ErrFailed}, nil, nil},
		{"failed", "external", []error{ErrFailed}, nil, nil},
		{"failed", "step", []error{ErrFailed}, nil, nil},
		{"failed", "complete", []error{ErrTransition}, nil, nil},
		{"failed", "terminate", nil, []string{TypeTerminationRequested}, func(t *testing.T, v View) {
			if v.Status != StatusShuttingDown {
				t.Fatalf("status %s", v.Status)
			}
		}},
		{"failed", "remove", nil, []string{TypeRemoved}, nil},

		// terminated: only its record can be removed.
		{"terminated", "remove", nil, []string{TypeRemoved}, nil},
		{"terminated-no-inst", "remove", nil, []string{TypeRemoved}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.state+"/"+tt.cmd, func(t *testing.T) {
			w, c := given(t, tt.state)
			before := mustJSON(t, w.View())
			w.Begin(event.Meta{Actor: admin, Time: c.next()})
			err := intents[tt.cmd](w)
			if tt.errs != nil {
				wantErr(t, err, tt.errs...)
				var te *TransitionError
				var ve *ValidationError
				if !errors.As(err, &te) && !errors.As(err, &ve) {
					t.Fatalf("error %T is neither a TransitionError nor a ValidationError", err)
				}
				if te != nil && (te.Op == "" || te.Reason == "" || !strings.Contains(te.Error(), te.Reason)) {
					t.Fatalf("transition error says too little: %q", te.Error())
				}
				if len(w.Pending()) != 0 || mustJSON(t, w.View()) != before {
					t.Fatal("a rejected command changed the worker")
				}
				return
			}
			wantErr(t, err)
			if got := types(w); !sameTypes(got, tt.types) {
				t.Fatalf("events %v, want %v", got, tt.types)
			}
			if tt.check != nil {
				tt.check(t, w.View())
			}
		})
	}
}

func TestTerminatedAcceptsNothing(t *testing.T) {
	for _, state := range []string{"terminated", "terminated-no-inst", "removed"} {
		sentinel := ErrTerminated
		if state == "removed" {
			sentinel = ErrRemoved
		}
		for name, cmd := range intents {
			if name == "remove" && state != "removed" {
				continue // the one command a terminated worker accepts
			}
			t.Run(state+"/"+name, func(t *testing.T) {
				w, c := given(t, state)
				w.Begin(event.Meta{Actor: admin, Time: c.next()})
				err := cmd(w)
				if name == "create" || name == "import" {
					wantErr(t, err, ErrExists)
				} else {
					wantErr(t, err, ErrTransition, sentinel)
				}
				if len(w.Pending()) != 0 {
					t.Fatalf("recorded %v", types(w))
				}
			})
		}
		for name, obs := range observations {
			t.Run(state+"/"+name, func(t *testing.T) {
				w, c := given(t, state)
				w.Begin(event.Meta{Actor: "system:x", Time: c.next()})
				wantErr(t, obs(w))
				if len(w.Pending()) != 0 {
					t.Fatalf("recorded %v", types(w))
				}
			})
		}
	}
}

func TestCommandsOnUncreatedWorker(t *testing.T) {
	for name, cmd := range intents {
		if name == "create" || name == "import" {
			continue
		}
		w := New("w-none")
		w.Begin(event.Meta{Actor: admin, Time: t0})
		if err := cmd(w); !errors.Is(err, ErrNotCreated) {
			t.Errorf("%s: %v, want ErrNotCreated", name, err)
		}
	}
	for name, obs := range observations {
		w := New("w-none")
		if err := obs(w); !errors.Is(err, ErrNotCreated) {
			t.Errorf("%s: %v, want ErrNotCreated", name, err)
		}
	}
}

func TestObserveEC2(t *testing.T) {
	observe := func(w *Worker, s EC2State, at time.Time) error {
		w.Begin(event.Meta{Actor: "system:ec2events", Time: at.Add(2 * time.Second)})
		return w.ObserveEC2State(s, at, "")
	}
	t.Run("older observation is ignored", func(t *testing.T) {
		w, c := given(t, "running")
		last := w.View().EC2.ObservedAt
		wantErr(t, observe(w, EC2Stopped, last.Add(-time.Second)))
		if len(w.Pending()) != 0 {
			t.Fatalf("recorded %v", types(w))
		}
		_ = c
	})
	t.Run("same state records nothing", func(t *testing.T) {
		w, c := given(t, "stopped")
		wantErr(t, observe(w, EC2Stopped, c.next()))
		if len(w.Pending()) != 0 {
			t.Fatalf("recorded %v", types(w))
		}
	})
	t.Run("newer observation wins", func(t *testing.T) {
		w, c := given(t, "stopped")
		// Started in the console: EC2 is authoritative.
		wantErr(t, observe(w, EC2Pending, c.next()))
		if w.Status() != StatusPending || w.DesiredPower() != PowerStopped {
			t.Fatalf("status %s desired %s", w.Status(), w.DesiredPower())
		}
		if d := w.Drift(); d.Drifting {
			t.Fatalf("pending is transitional, not drift: %+v", d)
		}
		wantErr(t, observe(w, EC2Running, c.next()))
		if d := w.Drift(); !d.Drifting || d.Desired != PowerStopped || d.Observed != StatusRunning {
			t.Fatalf("drift %+v", d)
		}
	})
	t.Run("same second accepts only the next state", func(t *testing.T) {
		w, c := given(t, "pending")
		sec := c.next()
		wantErr(t, observe(w, EC2Pending, sec))
		wantErr(t, observe(w, EC2Running, sec))
		if w.EC2State() != EC2Running {
			t.Fatalf("ec2 state %s", w.EC2State())
		}
		w.MarkCommitted()
		wantErr(t, observe(w, EC2Pending, sec)) // delivered out of order
		if w.EC2State() != EC2Running || len(w.Pending()) != 0 {
			t.Fatalf("ec2 state %s, recorded %v", w.EC2State(), types(w))
		}
	})
	t.Run("a describe made before a stop does not undo it", func(t *testing.T) {
		w, c := given(t, "running")
		before := c.next()
		w.Begin(event.Meta{Actor: admin, Time: c.next()})
		wantErr(t, w.RequestStop("", false))
		// A describe started before the stop reports running, with new IPs.
		w.Begin(event.Meta{Actor: "system:metrics", Time: c.next()})
		wantErr(t, w.ObserveEC2(EC2Observation{State: EC2Running, ObservedAt: before,
			Details: &EC2Details{PublicIP: "203.0.113.99", PrivateIP: "10.0.0.5", SystemStatus: CheckOK, InstanceStatus: CheckOK}}))
		if w.Status() != StatusStopping || w.View().PublicIP != "203.0.113.99" {
			t.Fatalf("status %s ip %s", w.Status(), w.View().PublicIP)
		}
		// The instance stopped very fast, stamped before our command: consistent, accepted.
		wantErr(t, observe(w, EC2Stopped, before.Add(time.Second)))
		if w.Status() != StatusStopped {
			t.Fatalf("status %s", w.Status())
		}
	})
	t.Run("a failed stop call is corrected by the next observation", func(t *testing.T) {
		w, c := given(t, "running")
		w.Begin(event.Meta{Actor: admin, Time: c.next()})
		wantErr(t, w.RequestStop("", false))
		w.MarkCommitted()
		wantErr(t, observe(w, EC2Running, c.next()))
		if got := types(w); !sameTypes(got, []string{TypeEC2Observed}) || w.Status() != StatusRunning {
			t.Fatalf("events %v status %s", got, w.Status())
		}
		if d := w.Drift(); !d.Drifting {
			t.Fatalf("desired stopped, running: drift %+v", d)
		}
	})
	t.Run("stopped clears what EC2 drops", func(t *testing.T) {
		w, c := given(t, "stopping")
		wantErr(t, observe(w, EC2Stopped, c.next()))
		v := w.View()
		if v.PublicIP != "" || v.Endpoint != "" || v.PrivateIP == "" || v.EC2.SystemStatus != "" ||
			v.CML.Ready || v.CML.ServiceStatus != ServiceUnavailable || v.EC2.RunningSince != nil {
			t.Fatalf("view %s", mustJSON(t, v))
		}
	})
	t.Run("failed stays failed", func(t *testing.T) {
		w, c := given(t, "failed")
		wantErr(t, observe(w, EC2ShuttingDown, c.next()))
		wantErr(t, observe(w, EC2Terminated, c.next()))
		if w.Status() != StatusFailed || w.EC2State() != EC2Terminated {
			t.Fatalf("status %s ec2 %s", w.Status(), w.EC2State())
		}
		// Terminating it now ends it at once: the instance is gone.
		w.Begin(event.Meta{Actor: admin, Time: c.next()})
		wantErr(t, w.RequestTerminate(""))
		if w.Status() != StatusTerminated {
			t.Fatalf("status %s", w.Status())
		}
	})
	t.Run("terminated by request", func(t *testing.T) {
		w, c := given(t, "shutting-down")
		when := c.next()
		wantErr(t, observe(w, EC2Terminated, when))
		v := w.View()
		if v.Status != StatusTerminated || v.TerminatedBy != admin || !v.TerminatedAt.Equal(when) || v.PrivateIP != "" {
			t.Fatalf("view %s", mustJSON(t, v))
		}
	})
	t.Run("terminated outside the product", func(t *testing.T) {
		w, c := given(t, "running")
		wantErr(t, observe(w, EC2ShuttingDown, c.next()))
		wantErr(t, observe(w, EC2Terminated, c.next()))
		if v := w.View(); v.Status != StatusTerminated || v.TerminatedBy != "system:ec2events" {
			t.Fatalf("status %s by %s", v.Status, v.TerminatedBy)
		}
	})
	t.Run("details change records even in the same state", func(t *testing.T) {
		w, c := given(t, "running")
		w.Begin(event.Meta{Actor: "system:metrics", Time: c.next()})
		wantErr(t, w.ObserveEC2(EC2Observation{State: EC2Running, ObservedAt: c.now,
			Details: &EC2Details{PublicIP: "203.0.113.10", PrivateIP: "10.0.0.5", SystemStatus: CheckImpaired, InstanceStatus: CheckOK}}))
		if got := types(w); !sameTypes(got, []string{TypeEC2Observed}) || w.View().EC2.SystemStatus != CheckImpaired {
			t.Fatalf("events %v", got)
		}
		w.MarkCommitted()
		w.Begin(event.Meta{Actor: "system:metrics", Time: c.next()})
		wantErr(t, w.ObserveEC2(EC2Observation{State: EC2Running, ObservedAt: c.now,
			Details: &EC2Details{PublicIP: "203.0.113.10", PrivateIP: "10.0.0.5", SystemStatus: CheckImpaired, InstanceStatus: CheckOK}}))
		if len(w.Pending()) != 0 {
			t.Fatalf("unchanged describe recorded %v", types(w))
		}
	})
	t.Run("invalid observations", func(t *testing.T) {
		w, c := given(t, "running")
		w.Begin(event.Meta{Actor: "system:x", Time: c.next()})
		wantErr(t, w.ObserveEC2State("rebooting", c.now, ""), ErrInvalid)
		wantErr(t, w.ObserveEC2State(EC2Running, time.Time{}, ""), ErrInvalid)
		wantErr(t, w.ObserveEC2(EC2Observation{InstanceID: "i-999", State: EC2Running, ObservedAt: c.now}), ErrInvalid)
		wantErr(t, w.ObserveEC2(EC2Observation{State: EC2Running, ObservedAt: c.now, Details: &EC2Details{PublicIP: "nope"}}), ErrInvalid)
		p, _ := given(t, "provisioning")
		wantErr(t, p.ObserveEC2State(EC2Running, c.now, ""), ErrNoInstance)
	})
}

func TestPauseResumeCounting(t *testing.T) {
	w, c := given(t, "running")
	// Idle for an hour, then auto-paused by the idle job.
	w.Begin(event.Meta{Actor: "system:idle", Time: c.now.Add(61 * time.Minute)})
	c.now = c.now.Add(61 * time.Minute)
	wantErr(t, w.AutoPause(60))
	v := w.View()
	if v.Activity.AutoPauseCount != 1 || v.Activity.ManualPauseCount != 0 || !v.Activity.LastPauseAuto ||
		v.Activity.LastPauseIdleMinutes != 60 || v.Activity.LastPausedBy != "system:idle" ||
		v.Activity.LastPauseReason != "idle for 60 minutes" || v.Status != StatusStopping {
		t.Fatalf("activity %+v status %s", v.Activity, v.Status)
	}
	if p := w.Pending()[0]; !strings.Contains(string(p.Data), `"auto":true`) || !strings.Contains(string(p.Data), `"idleMinutes":60`) {
		t.Fatalf("paused payload %s", p.Data)
	}
	// A retried stop does not count twice.
	w.Begin(event.Meta{Actor: admin, Time: c.next()})
	wantErr(t, w.RequestStop("", false), ErrAlreadyInState)
	wantErr(t, observe(w, c, EC2Stopped))
	// Scheduled wake-up: an automatic resume.
	w.Begin(event.Meta{Actor: "system:schedule", Time: c.next()})
	wantErr(t, w.RequestStart("scheduled wake-up", true))
	wantErr(t, observe(w, c, EC2Pending))
	wantErr(t, observe(w, c, EC2Running))
	// A person stops and starts it.
	w.Begin(event.Meta{Actor: "bob", Time: c.next()})
	wantErr(t, w.RequestStop("lunch", false))
	wantErr(t, observe(w, c, EC2Stopped))
	w.Begin(event.Meta{Actor: "bob", Time: c.next()})
	wantErr(t, w.RequestStart("back", false))
	v = w.View()
	want := ActivityView{AutoPauseCount: 1, ManualPauseCount: 1, AutoResumeCount: 1, ManualResumeCount: 1}
	if v.Activity.AutoPauseCount != want.AutoPauseCount || v.Activity.ManualPauseCount != want.ManualPauseCount ||
		v.Activity.AutoResumeCount != want.AutoResumeCount || v.Activity.ManualResumeCount != want.ManualResumeCount {
		t.Fatalf("counts %+v", v.Activity)
	}
	if v.Activity.LastResumedBy != "bob" || v.Activity.LastResumeAuto || v.Activity.LastPauseReason != "lunch" {
		t.Fatalf("last %+v", v.Activity)
	}
	// A deferred stop later cancelled by a start counts one pause and one resume, no more.
	wantErr(t, observe(w, c, EC2Pending))
	w.Begin(event.Meta{Actor: "bob", Time: c.next()})
	wantErr(t, w.RequestStop("", false))
	w.Begin(event.Meta{Actor: "bob", Time: c.next()})
	wantErr(t, w.RequestStart("", false))
	w.Begin(event.Meta{Actor: "bob", Time: c.next()})
	wantErr(t, w.RequestStart("", false), ErrAlreadyInState)
	if v := w.View(); v.Activity.ManualPauseCount != 2 || v.Activity.ManualResumeCount != 2 || v.Status != StatusPending {
		t.Fatalf("activity %+v status %s", v.Activity, v.Status)
	}
}

func observe(w *Worker, c *clock, s EC2State) error {
	at := c.next()
	w.Begin(event.Meta{Actor: "system:ec2events", Time: at})
	return w.ObserveEC2State(s, at, "")
}

func TestAutoPauseGuards(t *testing.T) {
	t.Run("activity since the decision", func(t *testing.T) {
		w, c := given(t, "running")
		c.now = c.now.Add(50 * time.Minute)
		w.Begin(event.Meta{Actor: "system:idle", Time: c.now})
		wantErr(t, w.RecordActivity(c.now.Add(-time.Minute), "cml"))
		c.now = c.now.Add(15 * time.Minute)
		w.Begin(event.Meta{Actor: "system:idle", Time: c.now})
		wantErr(t, w.AutoPause(60), ErrNotIdle)
		wantErr(t, w.AutoPause(0), ErrInvalid)
	})
	t.Run("disabled for this worker", func(t *testing.T) {
		w, c := given(t, "running")
		off := idle.DefaultPolicy()
		off.Enabled = false
		w.Begin(event.Meta{Actor: admin, Time: c.next()})
		wantErr(t, w.SetIdlePolicy(&off))
		c.now = c.now.Add(2 * time.Hour)
		w.Begin(event.Meta{Actor: "system:idle", Time: c.now})
		wantErr(t, w.AutoPause(60), ErrIdleDisabled)
		wantErr(t, w.IssueIdleWarning(c.now.Add(-time.Hour), c.now.Add(10*time.Minute)), ErrIdleDisabled)
	})
}

func TestTags(t *testing.T) {
	tests := []struct {
		name    string
		tags    map[string]string
		managed bool
		invalid bool
		events  int
	}{
		{"replace", map[string]string{"team": "sec", "cost-center": "42"}, false, false, 1},
		{"unchanged", map[string]string{"team": "netops"}, false, false, 0},
		{"clear", nil, false, false, 1},
		{"managed prefix", map[string]string{"cmlcm:worker-id": "x"}, true, true, 0},
		{"managed prefix any case", map[string]string{"CMLCM:Managed": "x"}, true, true, 0},
		{"Name follows the worker name", map[string]string{"Name": "x"}, true, true, 0},
		{"aws prefix", map[string]string{"aws:createdBy": "x"}, true, true, 0},
		{"empty key", map[string]string{"": "x"}, false, true, 0},
		{"long value", map[string]string{"k": strings.Repeat("v", MaxTagValueLength+1)}, false, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, c := given(t, "running")
			w.Begin(event.Meta{Actor: admin, Time: c.next()})
			err := w.SetTags(tt.tags)
			if tt.invalid {
				wantErr(t, err, ErrInvalid)
				if tt.managed != errors.Is(err, ErrManagedTag) {
					t.Fatalf("managed %v: %v", tt.managed, err)
				}
			} else {
				wantErr(t, err)
			}
			if len(w.Pending()) != tt.events {
				t.Fatalf("events %v", types(w))
			}
			if !tt.invalid && len(w.Tags()) != len(tt.tags) {
				t.Fatalf("tags %v", w.Tags())
			}
		})
	}
	t.Run("too many", func(t *testing.T) {
		w, c := given(t, "running")
		many := map[string]string{}
		for i := range MaxUserTags + 1 {
			many[strings.Repeat("k", i+1)] = "v"
		}
		w.Begin(event.Meta{Actor: admin, Time: c.next()})
		wantErr(t, w.SetTags(many), ErrInvalid)
	})
}

func TestActivity(t *testing.T) {
	w, c := given(t, "running")
	base := c.next()
	w.Begin(event.Meta{Actor: "system:idle", Time: base})
	wantErr(t, w.RecordActivity(base.Add(-10*time.Minute), "cml:start_lab"))
	if got := types(w); len(got) != 1 {
		t.Fatalf("first activity: %v", got)
	}
	w.MarkCommitted()
	tests := []struct {
		name   string
		at     time.Time
		events int
		last   time.Time
	}{
		{"older is ignored", base.Add(-20 * time.Minute), 0, base.Add(-10 * time.Minute)},
		{"same is ignored", base.Add(-10 * time.Minute), 0, base.Add(-10 * time.Minute)},
		{"within resolution is dropped", base.Add(-7 * time.Minute), 0, base.Add(-10 * time.Minute)},
		{"newer by the resolution", base.Add(-5 * time.Minute), 1, base.Add(-5 * time.Minute)},
		{"future counts as now", base.Add(time.Hour), 1, base},
	}
	for _, tt := range tests {
		w.Begin(event.Meta{Actor: "system:idle", Time: base})
		wantErr(t, w.RecordActivity(tt.at, "cml"))
		if len(w.Pending()) != tt.events || !w.View().Idle.LastActivityAt.Equal(tt.last) {
			t.Fatalf("%s: events %v last %v", tt.name, types(w), w.View().Idle.LastActivityAt)
		}
		w.MarkCommitted()
	}

	// A pending warning is withdrawn by any newer activity, even a close one.
	later := base.Add(55 * time.Minute)
	w.Begin(event.Meta{Actor: "system:idle", Time: later})
	wantErr(t, w.IssueIdleWarning(base, base.Add(time.Hour)))
	wantErr(t, w.IssueIdleWarning(base, base.Add(time.Hour))) // same warning: nothing new
	if got := types(w); !sameTypes(got, []string{TypeIdleWarningIssued}) {
		t.Fatalf("events %v", got)
	}
	if v := w.View(); v.Idle.PauseAt == nil || !v.Idle.PauseAt.Equal(base.Add(time.Hour)) {
		t.Fatalf("pauseAt %v", v.Idle.PauseAt)
	}
	w.MarkCommitted()
	w.Begin(event.Meta{Actor: "carol", Time: later.Add(time.Minute)})
	wantErr(t, w.RecordActivity(base.Add(time.Minute), "keep-running"))
	if got := types(w); !sameTypes(got, []string{TypeActivityRecorded}) || w.View().Idle.PauseAt != nil {
		t.Fatalf("events %v pauseAt %v", got, w.View().Idle.PauseAt)
	}
	if !strings.Contains(string(w.Pending()[0].Data), `"warningCleared":true`) {
		t.Fatalf("payload %s", w.Pending()[0].Data)
	}
	// A warning decided before that activity is stale.
	w.Begin(event.Meta{Actor: "system:idle", Time: later.Add(2 * time.Minute)})
	wantErr(t, w.IssueIdleWarning(base, base.Add(time.Hour)), ErrNotIdle)

	// Activity on a stopped worker means nothing.
	s, sc := given(t, "stopped")
	s.Begin(event.Meta{Actor: "system:idle", Time: sc.next()})
	wantErr(t, s.RecordActivity(sc.now, "cml"))
	if len(s.Pending()) != 0 {
		t.Fatal("activity on a stopped worker recorded")
	}
	wantErr(t, s.RecordActivity(time.Time{}, "cml"), ErrInvalid)
}

func TestObserveCML(t *testing.T) {
	w, c := given(t, "running")
	tests := []struct {
		name    string
		obs     CMLObservation
		changed []string
	}{
		{"unchanged", CMLObservation{ServiceStatus: ServiceAvailable, Ready: true, Version: "2.9.0", LicenseStatus: LicenseUnregistered}, nil},
		{"unknown fields keep values", CMLObservation{ServiceStatus: ServiceAvailable, Ready: true}, nil},
		{"licence", CMLObservation{ServiceStatus: ServiceAvailable, Ready: true, LicenseStatus: LicenseEvaluation}, []string{"licenseStatus"}},
		{"upgrade", CMLObservation{ServiceStatus: ServiceAvailable, Ready: true, Version: "2.9.1"}, []string{"version"}},
		{"down", CMLObservation{ServiceStatus: ServiceError, Ready: true}, []string{"ready", "serviceStatus"}},
		{"back", CMLObservation{ServiceStatus: ServiceAvailable, Ready: true}, []string{"ready", "serviceStatus"}},
	}
	for _, tt := range tests {
		w.Begin(event.Meta{Actor: "system:metrics", Time: c.next()})
		wantErr(t, w.ObserveCML(tt.obs))
		if tt.changed == nil {
			if len(w.Pending()) != 0 {
				t.Fatalf("%s: recorded %v", tt.name, types(w))
			}
			continue
		}
		var p CMLObserved
		if len(w.Pending()) != 1 || json.Unmarshal(w.Pending()[0].Data, &p) != nil || !sameTypes(p.Changed, tt.changed) {
			t.Fatalf("%s: events %v changed %v", tt.name, types(w), p.Changed)
		}
		w.MarkCommitted()
	}
	if v := w.View().CML; !v.Ready || v.Version != "2.9.1" || v.LicenseStatus != LicenseEvaluation || v.ServiceStatus != ServiceAvailable {
		t.Fatalf("cml %+v", v)
	}
	// Older than the last applied observation: ignored.
	w.Begin(event.Meta{Actor: "system:metrics", Time: c.next()})
	wantErr(t, w.ObserveCML(CMLObservation{ObservedAt: t0, ServiceStatus: ServiceError}))
	// Bad input.
	wantErr(t, w.ObserveCML(CMLObservation{ServiceStatus: "up"}), ErrInvalid)
	wantErr(t, w.ObserveCML(CMLObservation{ServiceStatus: ServiceAvailable, LicenseStatus: "gold"}), ErrInvalid)
	if len(w.Pending()) != 0 {
		t.Fatalf("recorded %v", types(w))
	}
	// A late answer after the instance stopped must not revive CML.
	s, sc := given(t, "stopped")
	s.Begin(event.Meta{Actor: "system:metrics", Time: sc.next()})
	wantErr(t, s.ObserveCML(CMLObservation{ServiceStatus: ServiceAvailable, Ready: true}))
	if len(s.Pending()) != 0 || s.CMLReady() {
		t.Fatal("CML observation on a stopped worker applied")
	}
}

func TestLicense(t *testing.T) {
	w, c := given(t, "running")
	run := func(f func() error, errs ...error) {
		t.Helper()
		w.Begin(event.Meta{Actor: admin, Time: c.next()})
		wantErr(t, f(), errs...)
	}
	run(func() error { return w.StartLicenseRegistration(false) }, ErrTransition) // no token yet
	run(func() error { return w.SetLicenseTokenConfigured(true) })
	run(func() error { return w.SetLicenseTokenConfigured(true) }) // unchanged: nothing
	run(func() error { return w.StartLicenseRegistration(false) })
	if w.LicenseOperation() != LicenseRegistering {
		t.Fatalf("operation %q", w.LicenseOperation())
	}
	run(func() error { return w.StartLicenseRegistration(true) }, ErrLicenseBusy)
	run(func() error { return w.StartLicenseDeregistration() }, ErrLicenseBusy)
	run(func() error { return w.CompleteLicenseDeregistration("") }, ErrTransition)
	run(func() error { return w.CompleteLicenseRegistration("pending", "", "") }, ErrInvalid)
	run(func() error { return w.FailLicenseRegistration(" ", "") }, ErrInvalid)
	run(func() error { return w.CompleteLicenseRegistration(LicenseRegistered, "acme", "lab") })
	if v := w.View().CML; v.LicenseStatus != LicenseRegistered || v.LicenseOperation != "" {
		t.Fatalf("cml %+v", v)
	}
	run(func() error { return w.StartLicenseRegistration(false) }, ErrAlreadyInState)
	run(func() error { return w.StartLicenseRegistration(true) })
	run(func() error { return w.FailLicenseRegistration("token expired", "403") })
	if v := w.View().CML; v.LicenseError != "token expired" || v.LicenseOperation != "" || v.LicenseStatus != LicenseRegistered {
		t.Fatalf("cml %+v", v)
	}
	run(func() error { return w.StartLicenseDeregistration() })
	run(func() error { return w.FailLicenseDeregistration("CSSM timeout") })
	run(func() error { return w.StartLicenseDeregistration() })
	run(func() error { return w.CompleteLicenseDeregistration("deregistered") })
	if v := w.View().CML; v.LicenseStatus != LicenseUnregistered || v.LicenseOperation != "" || v.LicenseError != "" {
		t.Fatalf("cml %+v", v)
	}
	run(func() error { return w.StartLicenseDeregistration() }, ErrAlreadyInState)

	// A job that died does not block the worker forever.
	run(func() error { return w.StartLicenseRegistration(false) })
	c.now = c.now.Add(LicenseOperationTimeout)
	run(func() error { return w.StartLicenseRegistration(true) })

	for _, e := range w.Pending() {
		if strings.Contains(strings.ToLower(string(e.Data)), "token\"") {
			t.Fatalf("%s carries a token field: %s", e.Type, e.Data)
		}
	}
}

func TestSchedule(t *testing.T) {
	paris := &Schedule{Timezone: "Europe/Paris", Wakeups: []Wakeup{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, At: "08:30"}}}
	bad := []struct {
		field string
		s     Schedule
	}{
		{"schedule.timezone", Schedule{Wakeups: paris.Wakeups}},
		{"schedule.timezone", Schedule{Timezone: "Local", Wakeups: paris.Wakeups}},
		{"schedule.wakeups", Schedule{Timezone: "UTC"}},
		{"schedule.wakeups[0].at", Schedule{Timezone: "UTC", Wakeups: []Wakeup{{Days: []string{"mon"}, At: "8:30"}}}},
		{"schedule.wakeups[0].at", Schedule{Timezone: "UTC", Wakeups: []Wakeup{{Days: []string{"mon"}, At: "24:00"}}}},
		{"schedule.wakeups[0].days", Schedule{Timezone: "UTC", Wakeups: []Wakeup{{At: "08:00"}}}},
		{"schedule.wakeups[0].days", Schedule{Timezone: "UTC", Wakeups: []Wakeup{{Days: []string{"monday"}, At: "08:00"}}}},
		{"schedule.wakeups[0].days", Schedule{Timezone: "UTC", Wakeups: []Wakeup{{Days: []string{"mon", "mon"}, At: "08:00"}}}},
	}
	for _, b := range bad {
		var ve *ValidationError
		if err := b.s.Validate(); !errors.As(err, &ve) || ve.Field != b.field {
			t.Errorf("%+v: %v, want field %s", b.s, err, b.field)
		}
	}

	// Next: Friday 2025-03-14 09:00 Paris (08:00 UTC) → Monday 08:30 Paris (07:30 UTC).
	fri := time.Date(2025, 3, 14, 8, 0, 0, 0, time.UTC)
	next, ok := paris.Next(fri)
	if !ok || !next.Equal(time.Date(2025, 3, 17, 7, 30, 0, 0, time.UTC)) {
		t.Fatalf("next %v %v", next, ok)
	}
	// Across the DST change (2025-03-30): Monday 31 08:30 Paris is 06:30 UTC.
	next, _ = paris.Next(time.Date(2025, 3, 28, 12, 0, 0, 0, time.UTC))
	if !next.Equal(time.Date(2025, 3, 31, 6, 30, 0, 0, time.UTC)) {
		t.Fatalf("next across DST %v", next)
	}
	if !paris.Due(next.Add(-time.Minute), next) || paris.Due(next, next.Add(time.Minute)) {
		t.Fatal("Due must fire exactly once per wake-up")
	}

	w, c := given(t, "running")
	w.Begin(event.Meta{Actor: admin, Time: c.next()})
	wantErr(t, w.SetSchedule(paris))
	wantErr(t, w.SetSchedule(paris))
	if got := types(w); !sameTypes(got, []string{TypeScheduleChanged}) {
		t.Fatalf("events %v", got)
	}
	wantErr(t, w.SetSchedule(&Schedule{Timezone: "UTC"}), ErrInvalid)
	wantErr(t, w.SetSchedule(nil))
	if w.Schedule() != nil || len(w.Pending()) != 2 {
		t.Fatalf("schedule %v events %v", w.Schedule(), types(w))
	}
}

func TestIdlePolicyChange(t *testing.T) {
	w, c := given(t, "running")
	w.Begin(event.Meta{Actor: admin, Time: c.next()})
	wantErr(t, w.SetIdlePolicy(policy(30, 5, 10)))
	wantErr(t, w.SetIdlePolicy(policy(30, 5, 10)))
	wantErr(t, w.SetIdlePolicy(policy(5, 10, 10)), ErrInvalid)
	wantErr(t, w.SetIdlePolicy(nil))
	if got := types(w); !sameTypes(got, []string{TypeIdlePolicyChanged, TypeIdlePolicyChanged}) {
		t.Fatalf("events %v", got)
	}
	if !strings.Contains(string(w.Pending()[1].Data), `"policy":null`) {
		t.Fatalf("clearing payload %s", w.Pending()[1].Data)
	}
}

func TestIdleState(t *testing.T) {
	fleet := *policy(60, 10, 60)
	w, c := given(t, "running")
	running := w.RunningSince()
	tests := []struct {
		name   string
		now    time.Time
		action IdleAction
		pause  time.Time
	}{
		{"fresh", running.Add(10 * time.Minute), IdleNone, running.Add(60 * time.Minute)},
		{"warning window", running.Add(50 * time.Minute), IdleWarn, running.Add(60 * time.Minute)},
		{"late warning keeps the full warning period", running.Add(90 * time.Minute), IdleWarn, running.Add(100 * time.Minute)},
	}
	for _, tt := range tests {
		st := w.IdleState(tt.now, fleet)
		if !st.Monitored || !st.FleetPolicy || st.Action != tt.action || !st.PauseAt.Equal(tt.pause) || !st.IdleSince.Equal(running) {
			t.Fatalf("%s: %+v", tt.name, st)
		}
	}
	// Warned: pause due at the warned time.
	w.Begin(event.Meta{Actor: "system:idle", Time: running.Add(50 * time.Minute)})
	wantErr(t, w.IssueIdleWarning(running, running.Add(60*time.Minute)))
	if st := w.IdleState(running.Add(59*time.Minute), fleet); st.Action != IdleNone || !st.WarningIssued {
		t.Fatalf("before pause: %+v", st)
	}
	if st := w.IdleState(running.Add(60*time.Minute), fleet); st.Action != IdlePause {
		t.Fatalf("at pause: %+v", st)
	}
	// No warning configured: pause directly.
	if st := w.IdleState(running.Add(60*time.Minute), *policy(60, 0, 0)); st.Action != IdlePause {
		t.Fatalf("warned worker: %+v", st)
	}
	// A worker policy overrides the fleet's; disabled means unmonitored.
	off := fleet
	off.Enabled = false
	w.Begin(event.Meta{Actor: admin, Time: running.Add(61 * time.Minute)})
	wantErr(t, w.SetIdlePolicy(&off))
	if st := w.IdleState(running.Add(3*time.Hour), fleet); st.Monitored || st.FleetPolicy || st.Action != IdleNone {
		t.Fatalf("disabled: %+v", st)
	}
	// Snooze after a resume.
	s, sc := given(t, "stopped")
	s.Begin(event.Meta{Actor: "bob", Time: sc.next()})
	wantErr(t, s.RequestStart("", false))
	resumed := sc.now
	wantErr(t, observe(s, sc, EC2Running))
	snoozy := *policy(10, 0, 120)
	if st := s.IdleState(resumed.Add(30*time.Minute), snoozy); st.Action != IdleNone || !st.PauseAt.Equal(resumed.Add(120*time.Minute)) {
		t.Fatalf("snoozed: %+v", st)
	}
	// Not running: not monitored.
	if st := s.IdleState(resumed, fleet); st.Monitored != true {
		t.Fatalf("running after resume should be monitored: %+v", st)
	}
	p, _ := given(t, "stopped")
	if st := p.IdleState(t0.Add(10*time.Hour), fleet); st.Monitored || st.Action != IdleNone {
		t.Fatalf("stopped: %+v", st)
	}
	_ = c
}

func TestExternalChange(t *testing.T) {
	w, c := given(t, "running")
	wantErr(t, observe(w, c, EC2Stopping))
	wantErr(t, observe(w, c, EC2Stopped))
	if d := w.Drift(); !d.Drifting || d.Desired != PowerRunning {
		t.Fatalf("drift %+v", d)
	}
	w.MarkCommitted()
	w.Begin(event.Meta{Actor: "system:reconcile", Time: c.next()})
	wantErr(t, w.RecordExternalChange("stopped in the console"))
	wantErr(t, w.RecordExternalChange("again"))
	if got := types(w); !sameTypes(got, []string{TypeExternalChange}) || w.DesiredPower() != PowerStopped || w.Drift().Drifting {
		t.Fatalf("events %v desired %s", got, w.DesiredPower())
	}
	if v := w.View().Activity; v.ManualPauseCount != 0 || v.AutoPauseCount != 0 {
		t.Fatalf("external changes are not pauses: %+v", v)
	}
}

func TestErrorsRead(t *testing.T) {
	w, c := given(t, "stopped")
	w.Begin(event.Meta{Actor: admin, Time: c.next()})
	err := w.RequestStop("", false)
	var te *TransitionError
	if !errors.As(err, &te) || te.Op != "stop" || te.From != StatusStopped {
		t.Fatalf("%#v", err)
	}
	if got := err.Error(); got != "cannot stop a stopped worker: it is already stopped" {
		t.Fatalf("message %q", got)
	}
	err = (&ValidationError{Field: "tags.cmlcm:x", Reason: "is managed", Err: ErrManagedTag})
	if !errors.Is(err, ErrInvalid) || !errors.Is(err, ErrManagedTag) || errors.Is(err, ErrTransition) {
		t.Fatal("ValidationError does not unwrap to its sentinels")
	}
}
