// Package telemetrytest is the contract suite every telemetry.Store passes.
package telemetrytest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/telemetry"
)

// Run runs the contract against stores made by newStore (a fresh one per subtest).
func Run(t *testing.T, newStore func(t *testing.T) telemetry.Store) {
	ctx := context.Background()
	base := time.Now().UTC().Truncate(time.Minute).Add(-time.Hour)

	t.Run("series is ordered, bounded and per worker", func(t *testing.T) {
		s := newStore(t)
		var samples []telemetry.Sample
		// Times with fractions that RFC3339Nano would print in a
		// non-sortable way (…05Z, …05.5Z, …05.25Z).
		offsets := []time.Duration{0, 500 * time.Millisecond, 250 * time.Millisecond, time.Minute, 2 * time.Minute}
		for i, d := range offsets {
			samples = append(samples, telemetry.Sample{WorkerID: "w1", At: base.Add(5*time.Second + d),
				CPUPercent: telemetry.Float(float64(i)), LabCount: telemetry.Int(i)})
		}
		samples = append(samples, telemetry.Sample{WorkerID: "w2", At: base, CPUPercent: telemetry.Float(50)})
		if err := s.Put(ctx, 0, samples...); err != nil {
			t.Fatal(err)
		}
		got, err := s.Series(ctx, "w1", base, base.Add(time.Minute+5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 4 {
			t.Fatalf("got %d samples, want 4: %+v", len(got), got)
		}
		for i := 1; i < len(got); i++ {
			if !got[i].At.After(got[i-1].At) {
				t.Errorf("not ordered: %v then %v", got[i-1].At, got[i].At)
			}
		}
		if got[0].CPUPercent == nil || *got[0].CPUPercent != 0 || got[0].MemoryPercent != nil {
			t.Errorf("first sample %+v", got[0])
		}
		if !got[1].At.Equal(base.Add(5*time.Second + 250*time.Millisecond)) {
			t.Errorf("second sample at %v", got[1].At)
		}
		none, err := s.Series(ctx, "nobody", base, base.Add(time.Hour))
		if err != nil || len(none) != 0 {
			t.Errorf("unknown worker: %v %v", none, err)
		}
	})

	t.Run("latest never goes back in time", func(t *testing.T) {
		s := newStore(t)
		if err := s.Put(ctx, 0, telemetry.Sample{WorkerID: "w1", At: base.Add(time.Minute), CPUPercent: telemetry.Float(10)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, 0, telemetry.Sample{WorkerID: "w1", At: base, CPUPercent: telemetry.Float(99)}); err != nil {
			t.Fatal(err)
		}
		latest, err := s.Latest(ctx, []string{"w1", "w2"})
		if err != nil {
			t.Fatal(err)
		}
		if len(latest) != 1 || *latest["w1"].CPUPercent != 10 || !latest["w1"].At.Equal(base.Add(time.Minute)) {
			t.Errorf("latest %+v", latest)
		}
	})

	t.Run("expired samples are not returned", func(t *testing.T) {
		s := newStore(t)
		old := time.Now().Add(-2 * time.Hour)
		if err := s.Put(ctx, time.Hour, telemetry.Sample{WorkerID: "w1", At: old, CPUPercent: telemetry.Float(1)}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Series(ctx, "w1", old.Add(-time.Minute), time.Now())
		if err != nil || len(got) != 0 {
			t.Errorf("expired: %v %v", got, err)
		}
		latest, _ := s.Latest(ctx, []string{"w1"})
		if len(latest) != 0 {
			t.Errorf("expired latest: %v", latest)
		}
	})

	t.Run("invalid input", func(t *testing.T) {
		s := newStore(t)
		for _, smp := range []telemetry.Sample{{At: base}, {WorkerID: "w"}, {WorkerID: "w", At: base, CPUPercent: telemetry.Float(101)},
			{WorkerID: "w", At: base, RunningNodes: telemetry.Int(-1)}} {
			if err := s.Put(ctx, 0, smp); !errors.Is(err, telemetry.ErrInvalid) {
				t.Errorf("put %+v: %v", smp, err)
			}
		}
		if _, err := s.Series(ctx, "w", base, base.Add(-time.Second)); !errors.Is(err, telemetry.ErrInvalid) {
			t.Errorf("reversed range: %v", err)
		}
	})
}
