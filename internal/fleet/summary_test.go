package fleet_test

import (
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
	esbolt "github.com/cmlcm/cmlcm/internal/eventstore/bolt"
	"github.com/cmlcm/cmlcm/internal/fleet"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	rmbolt "github.com/cmlcm/cmlcm/internal/readmodel/bolt"
	"github.com/cmlcm/cmlcm/internal/sandbox"
	"github.com/cmlcm/cmlcm/internal/secrets"
	tmbolt "github.com/cmlcm/cmlcm/internal/telemetry/bolt"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// TestSummarySavings checks the savings formula on a history written
// straight into the read model: each auto-pause saves the instance type's
// price from the pause until the next resume, termination or removal (or
// now), clipped to the window; manual pauses save nothing counted here.
func TestSummarySavings(t *testing.T) {
	ctx := context.Background()
	store, err := esbolt.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	rm, _ := rmbolt.New(store.DB())
	tm, _ := tmbolt.New(store.DB())
	sec, _ := secrets.OpenFile(filepath.Join(t.TempDir(), "s.json"))
	sb, err := sandbox.New(sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	now := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	svc, err := fleet.New(fleet.Deps{EventStore: store, ReadModel: rm, Cloud: sb, Secrets: sec, Telemetry: tm,
		Clock: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}

	put := func(v worker.View) {
		doc, _ := json.Marshal(v)
		if _, err := rm.PutWorker(ctx, readmodel.Worker{ID: v.ID, Version: 1, Name: v.Name, Region: "us-east-1",
			Status: string(v.Status), Doc: doc}); err != nil {
			t.Fatal(err)
		}
	}
	version := int64(0)
	act := func(id, typ string, at time.Time, data any) {
		version++
		b, _ := json.Marshal(data)
		doc, _ := json.Marshal(event.Event{ID: "e", Type: typ, AggregateID: id, Version: version, Time: at, Actor: "x", Data: b})
		if err := rm.PutActivity(ctx, readmodel.Activity{AggregateID: id, Version: version, Type: typ, Time: at, Actor: "x", Doc: doc}); err != nil {
			t.Fatal(err)
		}
	}
	h := func(hours float64) time.Time { return now.Add(time.Duration(hours * float64(time.Hour))) }

	// w1 (m5zn.metal, 3.964 $/h): auto-paused last month and resumed 2 h
	// into this one; auto-paused again 3 h ago, still stopped.
	put(worker.View{ID: "w1", Name: "a", InstanceType: "m5zn.metal", Status: worker.StatusStopped,
		Activity: worker.ActivityView{AutoPauseCount: 2}})
	monthStart := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	act("w1", worker.TypePaused, monthStart.Add(-5*time.Hour), worker.Paused{Auto: true})
	act("w1", worker.TypeResumed, monthStart.Add(2*time.Hour), worker.Resumed{})
	act("w1", worker.TypePaused, h(-4), worker.Paused{Auto: false}) // manual: not counted
	act("w1", worker.TypeResumed, h(-3.5), worker.Resumed{})
	act("w1", worker.TypePaused, h(-3), worker.Paused{Auto: true, IdleMinutes: 60})
	// w2 (c5n.metal, 3.888 $/h) runs: it costs, it saved nothing.
	version = 0
	put(worker.View{ID: "w2", Name: "b", InstanceType: "c5n.metal", Status: worker.StatusRunning,
		EC2: worker.EC2View{State: worker.EC2Running}})

	s, err := svc.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	near := func(got, want float64) bool { return math.Abs(got-want) < 0.006 }
	if s.Total != 2 || s.ByStatus["stopped"] != 1 || s.ByStatus["running"] != 1 || s.ByStatus["failed"] != 0 {
		t.Errorf("counts %+v", s)
	}
	if !near(s.RunningCostPerHour, 3.888) {
		t.Errorf("running cost %v", s.RunningCostPerHour)
	}
	// Today: the last 3 hours. This month: 2 h (clipped at the month's
	// start) + 3 h.
	if !near(s.Savings.Today.Hours, 3) || !near(s.Savings.Today.Dollars, 3*3.964) || s.Savings.Today.AutoPauses != 1 {
		t.Errorf("today %+v", s.Savings.Today)
	}
	if !near(s.Savings.ThisMonth.Hours, 5) || !near(s.Savings.ThisMonth.Dollars, 5*3.964) || s.Savings.ThisMonth.AutoPauses != 1 {
		t.Errorf("month %+v", s.Savings.ThisMonth)
	}
}
