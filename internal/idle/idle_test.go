package idle

import (
	"errors"
	"testing"
)

func ptr[T any](v T) *T { return &v }

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*Policy)
		field string // "" means valid
	}{
		{"defaults", func(*Policy) {}, ""},
		{"disabled is still validated", func(p *Policy) { p.Enabled = false; p.TimeoutMinutes = 0 }, "timeoutMinutes"},
		{"no warning", func(p *Policy) { p.WarningMinutes = 0 }, ""},
		{"no snooze", func(p *Policy) { p.SnoozeMinutes = 0 }, ""},
		{"zero timeout", func(p *Policy) { p.TimeoutMinutes = 0 }, "timeoutMinutes"},
		{"timeout too long", func(p *Policy) { p.TimeoutMinutes = MaxMinutes + 1 }, "timeoutMinutes"},
		{"negative warning", func(p *Policy) { p.WarningMinutes = -1 }, "warningMinutes"},
		{"warning equals timeout", func(p *Policy) { p.WarningMinutes = p.TimeoutMinutes }, "warningMinutes"},
		{"negative snooze", func(p *Policy) { p.SnoozeMinutes = -5 }, "snoozeMinutes"},
		{"cpu threshold ok", func(p *Policy) { p.CPUThresholdPercent = ptr(20.0) }, ""},
		{"cpu threshold zero", func(p *Policy) { p.CPUThresholdPercent = ptr(0.0) }, "cpuThresholdPercent"},
		{"cpu threshold above 100", func(p *Policy) { p.CPUThresholdPercent = ptr(100.5) }, "cpuThresholdPercent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultPolicy()
			tt.edit(&p)
			err := p.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate() = %v, want a FieldError on %s", err, tt.field)
			}
		})
	}
}

func TestEqualAndClone(t *testing.T) {
	a := DefaultPolicy()
	a.CPUThresholdPercent = ptr(10.0)
	b := a.Clone()
	if !a.Equal(b) {
		t.Fatal("clone differs")
	}
	*b.CPUThresholdPercent = 11
	if a.Equal(b) || *a.CPUThresholdPercent != 10 {
		t.Fatal("clone shares the CPU threshold")
	}
	if DefaultPolicy().Equal(a) {
		t.Fatal("nil and set thresholds compare equal")
	}
}
