package lab

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
)

var _ eventstore.Aggregate = (*Lab)(nil)

var t0 = time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)

const (
	workerID = "w-1"
	labID    = "8c1f0a3e-5f5b-4ad2-9d7e-2d1b6b0c9a11"
)

func snap(state string) Snapshot {
	return Snapshot{LabID: labID, Title: "BGP lab", Description: "two routers", State: state, Owner: "alice",
		NodeCount: 2, LinkCount: 1, CreatedAt: t0.Add(-time.Hour), ModifiedAt: t0.Add(-time.Hour)}
}

func observe(t *testing.T, l *Lab, at time.Time, s Snapshot) {
	t.Helper()
	l.Begin(event.Meta{Actor: "system:labs", Time: at})
	if err := l.Observe(s); err != nil {
		t.Fatalf("Observe: %v", err)
	}
}

func TestObserve(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Snapshot)
		typ     string // "" = no event
		changed []string
	}{
		{"unchanged", func(*Snapshot) {}, "", nil},
		{"started", func(s *Snapshot) { s.State = StateStarted }, TypeStateChanged, []string{"state"}},
		{"started with more nodes", func(s *Snapshot) { s.State = StateStarted; s.NodeCount = 3; s.ModifiedAt = t0 },
			TypeStateChanged, []string{"state", "nodeCount", "modifiedAt"}},
		{"renamed", func(s *Snapshot) { s.Title = "OSPF lab" }, TypeUpdated, []string{"title"}},
		{"links and owner", func(s *Snapshot) { s.LinkCount = 4; s.Owner = "bob" }, TypeUpdated, []string{"owner", "linkCount"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := New(ID(workerID, labID))
			observe(t, l, t0, snap(StateStopped))
			if got := l.Pending(); len(got) != 1 || got[0].Type != TypeDiscovered {
				t.Fatalf("first sight: %v", got)
			}
			l.MarkCommitted()
			s := snap(StateStopped)
			tt.edit(&s)
			observe(t, l, t0.Add(time.Minute), s)
			if tt.typ == "" {
				if len(l.Pending()) != 0 {
					t.Fatalf("recorded %v", l.Pending())
				}
				return
			}
			if len(l.Pending()) != 1 || l.Pending()[0].Type != tt.typ {
				t.Fatalf("recorded %v, want %s", l.Pending(), tt.typ)
			}
			var body struct {
				Changed       []string `json:"changed"`
				PreviousState string   `json:"previousState"`
			}
			if err := json.Unmarshal(l.Pending()[0].Data, &body); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(body.Changed, tt.changed) {
				t.Fatalf("changed %v, want %v", body.Changed, tt.changed)
			}
			if tt.typ == TypeStateChanged && body.PreviousState != StateStopped {
				t.Fatalf("previous state %q", body.PreviousState)
			}
			v := l.View()
			if v.State != s.State || v.Title != s.Title || v.NodeCount != s.NodeCount || v.Owner != s.Owner {
				t.Fatalf("view %+v", v)
			}
		})
	}
}

func TestObserveOrderingAndValidation(t *testing.T) {
	l := New(ID(workerID, labID))
	s := snap(StateStarted)
	s.ObservedAt = t0.Add(time.Hour)
	observe(t, l, t0.Add(time.Hour), s)
	l.MarkCommitted()
	old := snap(StateStopped)
	old.ObservedAt = t0
	observe(t, l, t0.Add(2*time.Hour), old)
	if len(l.Pending()) != 0 || l.State() != StateStarted {
		t.Fatalf("older snapshot applied: %v", l.Pending())
	}

	bad := []struct {
		id   string
		edit func(*Snapshot)
	}{
		{"no-slash", func(*Snapshot) {}},
		{ID(workerID, labID), func(s *Snapshot) { s.LabID = "other" }},
		{ID(workerID, labID), func(s *Snapshot) { s.State = "" }},
		{ID(workerID, labID), func(s *Snapshot) { s.State = "started" }},
		{ID(workerID, labID), func(s *Snapshot) { s.NodeCount = -1 }},
	}
	for i, b := range bad {
		x := New(b.id)
		x.Begin(event.Meta{Actor: "system:labs", Time: t0})
		s := snap(StateStopped)
		b.edit(&s)
		if err := x.Observe(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("case %d: %v, want ErrInvalid", i, err)
		}
	}
}

func TestRemove(t *testing.T) {
	l := New(ID(workerID, labID))
	l.Begin(event.Meta{Actor: "system:labs", Time: t0})
	if err := l.Remove(""); !errors.Is(err, ErrNotFound) || !errors.Is(err, ErrTransition) {
		t.Fatalf("remove unknown: %v", err)
	}
	observe(t, l, t0, snap(StateStopped))
	l.Begin(event.Meta{Actor: "system:labs", Time: t0.Add(time.Minute)})
	if err := l.Remove("deleted in CML"); err != nil {
		t.Fatal(err)
	}
	if !l.Removed() {
		t.Fatal("not removed")
	}
	if err := l.Remove(""); !errors.Is(err, ErrRemoved) {
		t.Fatalf("remove twice: %v", err)
	}
	// A lab seen again after removal is discovered again.
	observe(t, l, t0.Add(2*time.Minute), snap(StateStopped))
	types := []string{}
	for _, e := range l.Pending() {
		types = append(types, e.Type)
	}
	if !slices.Equal(types, []string{TypeDiscovered, TypeRemoved, TypeDiscovered}) || l.Removed() {
		t.Fatalf("events %v removed %v", types, l.Removed())
	}
}

func TestReplayAndSnapshot(t *testing.T) {
	l := New(ID(workerID, labID))
	observe(t, l, t0, snap(StateDefinedOnCore))
	s := snap(StateQueued)
	observe(t, l, t0.Add(time.Minute), s)
	s.State = StateBooted
	s.NodeCount = 5
	observe(t, l, t0.Add(2*time.Minute), s)
	s.Title = "BGP lab (v2)"
	observe(t, l, t0.Add(3*time.Minute), s)
	l.Begin(event.Meta{Actor: "system:labs", Time: t0.Add(4 * time.Minute)})
	if err := l.Remove("gone"); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(l.View())

	fresh := New(l.AggregateID())
	for _, e := range l.Pending() {
		b, _ := json.Marshal(e)
		var back event.Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := fresh.ReplayEvent(back); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := json.Marshal(fresh.View()); string(got) != string(want) {
		t.Fatalf("replayed view\n got %s\nwant %s", got, want)
	}

	schema, state, err := l.SnapshotState()
	if err != nil {
		t.Fatal(err)
	}
	restored := New(l.AggregateID())
	if err := restored.RestoreSnapshot(schema, l.Version(), state); err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(restored.View()); string(got) != string(want) {
		t.Fatalf("restored view\n got %s\nwant %s", got, want)
	}
	if err := New("x/y").RestoreSnapshot(schema+1, 1, state); !errors.Is(err, event.ErrSnapshotSchema) {
		t.Fatalf("unknown schema: %v", err)
	}
	v := l.View()
	if v.ID != ID(workerID, labID) || v.WorkerID != workerID || v.LabID != labID {
		t.Fatalf("ids %+v", v)
	}
}

func TestSplitID(t *testing.T) {
	for id, ok := range map[string]bool{"w/l": true, "w/": false, "/l": false, "wl": false} {
		if _, _, got := SplitID(id); got != ok {
			t.Errorf("SplitID(%q) = %v", id, got)
		}
	}
}
