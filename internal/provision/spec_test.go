package provision

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/settings"
)

func TestSpec(t *testing.T) {
	w := Spec()
	var names []string
	for _, s := range w.Steps {
		names = append(names, s.Name)
		if s.Task != s.Name || s.Catch != StepCompensate || s.Retry.MaxAttempts < 2 {
			t.Errorf("step %+v", s)
		}
		if _, ok := (&Tasks{}).Func(s.Task); !ok {
			t.Errorf("no task %q", s.Task)
		}
	}
	want := []string{StepValidate, StepLaunch, StepWaitRunning, StepWaitStatusChecks, StepWaitCMLReady, StepRegisterLicense, StepReady}
	if !slices.Equal(names, want) {
		t.Fatalf("steps %v", names)
	}
	d := settings.Defaults().Provisioning.Timeouts
	if w.TotalTimeout != time.Duration(d.TotalMinutes)*time.Minute || w.ImportStartsAt != StepWaitRunning {
		t.Fatalf("spec %+v", w)
	}
	if s, _ := w.Step(StepWaitCMLReady); !s.Poll || s.PollInterval != 30*time.Second || s.Timeout != 30*time.Minute {
		t.Fatalf("wait-cml-ready %+v", s)
	}
	if _, err := json.Marshal(w); err != nil {
		t.Fatal(err)
	}
	r := Retry{Interval: 2 * time.Second, Backoff: 2}
	if r.Delay(1) != 2*time.Second || r.Delay(3) != 8*time.Second {
		t.Fatal("backoff")
	}
}

func TestErrorNames(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{{&TransientError{}, ErrorTransient}, {&StepTimeout{}, ErrorTimeout}, {&StepFailed{}, ErrorFailed}} {
		if got := errorName(c.err); got != c.want {
			t.Errorf("%T: %s, want %s", c.err, got, c.want)
		}
	}
	if (Failure{Cause: `{"errorMessage":"boom","errorType":"StepFailed"}`}).Text() != "boom" {
		t.Error("cause not decoded")
	}
}
