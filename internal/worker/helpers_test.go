package worker

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/idle"
)

// The domain package does not import the store; its tests prove the
// aggregate fits the store's contract.
var _ eventstore.Aggregate = (*Worker)(nil)

var t0 = time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)

const (
	instanceID = "i-0123456789abcdef0"
	admin      = "alice"
)

// clock hands out command times one minute apart unless told otherwise.
type clock struct{ now time.Time }

func (c *clock) next() time.Time { c.now = c.now.Add(time.Minute); return c.now }

type step func(w *Worker, c *clock) error

func do(actor string, f func(*Worker) error) step {
	return func(w *Worker, c *clock) error {
		w.Begin(event.Meta{Actor: actor, CorrelationID: "corr-1", Time: c.next()})
		return f(w)
	}
}

func baseSpec() CreateSpec {
	return CreateSpec{Name: "lab-paris-1", Region: "eu-west-3", InstanceType: "m5zn.metal",
		AMIID: "ami-0abcdef1234567890", Tags: map[string]string{"team": "netops"}}
}

var (
	stepCreate = do(admin, func(w *Worker) error { return w.Create(baseSpec()) })
	stepAssign = do("system:provision", func(w *Worker) error {
		return w.AssignInstance(InstanceAssignment{InstanceID: instanceID, PrivateIP: "10.0.0.5"})
	})
	stepStep = func(name string) step {
		return do("system:provision", func(w *Worker) error { return w.RecordProvisioningStep(name) })
	}
	stepObserve = func(s EC2State) step {
		return func(w *Worker, c *clock) error {
			obs := c.next()
			w.Begin(event.Meta{Actor: "system:ec2events", Time: obs})
			return w.ObserveEC2State(s, obs, "")
		}
	}
	stepDescribeRunning = func(w *Worker, c *clock) error {
		obs := c.next()
		w.Begin(event.Meta{Actor: "system:metrics", Time: obs})
		return w.ObserveEC2(EC2Observation{State: EC2Running, ObservedAt: obs, Details: &EC2Details{
			PublicIP: "203.0.113.10", PrivateIP: "10.0.0.5", SystemStatus: CheckOK, InstanceStatus: CheckOK}})
	}
	stepCMLReady = do("system:metrics", func(w *Worker) error {
		return w.ObserveCML(CMLObservation{ServiceStatus: ServiceAvailable, Ready: true, Version: "2.9.0",
			LicenseStatus: LicenseUnregistered})
	})
	stepCompleted = do("system:provision", func(w *Worker) error { return w.ProvisioningCompleted() })
	stepStop      = do(admin, func(w *Worker) error { return w.RequestStop("done for today", false) })
	stepStart     = do(admin, func(w *Worker) error { return w.RequestStart("", false) })
	stepTerminate = do(admin, func(w *Worker) error { return w.RequestTerminate("decommission") })
	stepRemove    = do(admin, func(w *Worker) error { return w.Remove("") })
	stepFail      = do("system:provision", func(w *Worker) error {
		return w.ProvisioningFailed("wait-cml-ready", "CML API did not answer within 25m")
	})
)

// States reachable through commands, by name.
var states = map[string][]step{
	"provisioning":       {stepCreate},
	"provisioning+inst":  {stepCreate, stepStep("launch"), stepAssign},
	"provisioning-run":   {stepCreate, stepAssign, stepObserve(EC2Pending), stepObserve(EC2Running)},
	"running":            {stepCreate, stepAssign, stepObserve(EC2Pending), stepDescribeRunning, stepCMLReady, stepCompleted},
	"stopping":           {stepCreate, stepAssign, stepDescribeRunning, stepCompleted, stepStop},
	"stopped":            {stepCreate, stepAssign, stepDescribeRunning, stepCompleted, stepStop, stepObserve(EC2Stopped)},
	"pending":            {stepCreate, stepAssign, stepDescribeRunning, stepCompleted, stepStop, stepObserve(EC2Stopped), stepStart},
	"shutting-down":      {stepCreate, stepAssign, stepDescribeRunning, stepCompleted, stepTerminate},
	"terminated":         {stepCreate, stepAssign, stepDescribeRunning, stepCompleted, stepTerminate, stepObserve(EC2Terminated)},
	"failed":             {stepCreate, stepAssign, stepDescribeRunning, stepFail},
	"removed":            {stepCreate, stepAssign, stepDescribeRunning, stepCompleted, stepRemove},
	"terminated-no-inst": {stepCreate, stepTerminate},
}

// given builds a worker in the named state with its events committed.
func given(t *testing.T, name string) (*Worker, *clock) {
	t.Helper()
	steps, ok := states[name]
	if !ok {
		t.Fatalf("no state %q", name)
	}
	return build(t, steps...)
}

func build(t *testing.T, steps ...step) (*Worker, *clock) {
	t.Helper()
	w := New("w-1")
	c := &clock{now: t0}
	for i, s := range steps {
		if err := s(w, c); err != nil {
			t.Fatalf("setup step %d: %v", i, err)
		}
	}
	w.MarkCommitted()
	return w, c
}

func types(w *Worker) []string {
	var out []string
	for _, e := range w.Pending() {
		out = append(out, e.Type)
	}
	return out
}

// replayed rebuilds a worker from the JSON of all events given.
func replayed(t *testing.T, id string, events []event.Event) *Worker {
	t.Helper()
	fresh := New(id)
	for _, e := range events {
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back event.Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := fresh.ReplayEvent(back); err != nil {
			t.Fatalf("replay %s v%d: %v", e.Type, e.Version, err)
		}
	}
	return fresh
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantErr(t *testing.T, err error, sentinels ...error) {
	t.Helper()
	if len(sentinels) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %v", sentinels)
	}
	for _, s := range sentinels {
		if !errors.Is(err, s) {
			t.Fatalf("error %q does not match %v", err, s)
		}
	}
}

func policy(timeout, warning, snooze int) *idle.Policy {
	return &idle.Policy{Enabled: true, TimeoutMinutes: timeout, WarningMinutes: warning, SnoozeMinutes: snooze}
}

func sameTypes(got, want []string) bool { return slices.Equal(got, want) }
