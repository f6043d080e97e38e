package worker

import (
	"testing"
	"time"
)

func TestSuccessor(t *testing.T) {
	tests := []struct {
		from, to EC2State
		want     bool
	}{
		{EC2Pending, EC2Running, true},
		{EC2Running, EC2Pending, false},
		{EC2Running, EC2Stopping, true},
		{EC2Stopping, EC2Stopped, true},
		{EC2Stopped, EC2Stopping, false},
		{EC2Stopped, EC2Pending, true},
		{EC2Running, EC2ShuttingDown, true},
		{EC2Terminated, EC2ShuttingDown, false},
		{EC2ShuttingDown, EC2Terminated, true},
		{EC2Stopped, EC2Running, false},
	}
	for _, tt := range tests {
		if got := successor(tt.from, tt.to); got != tt.want {
			t.Errorf("successor(%s, %s) = %v", tt.from, tt.to, got)
		}
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("héllo", 2); got != "h" {
		t.Fatalf("%q", got) // never splits the two bytes of é
	}
	if got := truncate("abc", 5); got != "abc" {
		t.Fatalf("%q", got)
	}
}

func TestScheduleNextPicksTheEarliest(t *testing.T) {
	s := Schedule{Timezone: "UTC", Wakeups: []Wakeup{
		{Days: []string{"mon"}, At: "18:00"},
		{Days: []string{"mon", "tue"}, At: "07:00"},
	}}
	mon := time.Date(2025, 3, 10, 6, 0, 0, 0, time.UTC) // a Monday
	for _, tt := range []struct{ after, want time.Time }{
		{mon, mon.Add(time.Hour)},
		{mon.Add(time.Hour), mon.Add(12 * time.Hour)}, // strictly after
		{mon.Add(13 * time.Hour), mon.Add(25 * time.Hour)},
		{mon.Add(26 * time.Hour), mon.Add(7*24*time.Hour + time.Hour)},
	} {
		if got, ok := s.Next(tt.after); !ok || !got.Equal(tt.want) {
			t.Errorf("Next(%v) = %v, want %v", tt.after, got, tt.want)
		}
	}
	if _, ok := (Schedule{Timezone: "Nowhere/Else"}).Next(mon); ok {
		t.Error("Next with an unknown zone")
	}
}
