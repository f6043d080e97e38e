// Package readmodeltest is the contract suite every readmodel.Store adapter
// passes: the version guard, tombstones, indexes, filters and paging.
package readmodeltest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/readmodel"
)

// Run runs the contract suite. newStore returns an empty store.
func Run(t *testing.T, newStore func(t *testing.T) readmodel.Store) {
	ctx := context.Background()
	worker := func(id, name, status, region, inst string, v int64) readmodel.Worker {
		return readmodel.Worker{ID: id, Name: name, Status: status, Region: region, InstanceID: inst, Version: v,
			Doc: []byte(fmt.Sprintf(`{"id":%q,"version":%d}`, id, v))}
	}

	t.Run("version guard", func(t *testing.T) {
		s := newStore(t)
		tests := []struct {
			name    string
			version int64
			wrote   bool
			stored  int64
		}{
			{"first write", 3, true, 3},
			{"older ignored", 2, false, 3},
			{"same ignored", 3, false, 3},
			{"newer wins", 5, true, 5},
		}
		for _, tc := range tests {
			wrote, err := s.PutWorker(ctx, worker("w1", "alpha", "running", "us-east-1", "i-1", tc.version))
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if wrote != tc.wrote {
				t.Errorf("%s: wrote=%v, want %v", tc.name, wrote, tc.wrote)
			}
			got, err := s.GetWorker(ctx, "w1")
			if err != nil || got.Version != tc.stored {
				t.Errorf("%s: stored version %d (%v), want %d", tc.name, got.Version, err, tc.stored)
			}
		}
	})

	t.Run("instance index follows the row", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, worker("w1", "alpha", "running", "us-east-1", "i-old", 1))
		mustPut(t, s, worker("w1", "alpha", "running", "us-east-1", "i-new", 2))
		if w, err := s.WorkerByInstance(ctx, "i-new"); err != nil || w.ID != "w1" {
			t.Fatalf("by new instance: %+v %v", w, err)
		}
		if _, err := s.WorkerByInstance(ctx, "i-old"); !errors.Is(err, readmodel.ErrNotFound) {
			t.Fatalf("old instance still found: %v", err)
		}
		if _, err := s.WorkerByInstance(ctx, "i-none"); !errors.Is(err, readmodel.ErrNotFound) {
			t.Fatalf("unknown instance: %v", err)
		}
	})

	t.Run("tombstone hides and guards", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, worker("w1", "alpha", "running", "us-east-1", "i-1", 4))
		if err := s.DeleteWorker(ctx, "w1", 5); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetWorker(ctx, "w1"); !errors.Is(err, readmodel.ErrNotFound) {
			t.Fatalf("deleted worker still there: %v", err)
		}
		if _, err := s.WorkerByInstance(ctx, "i-1"); !errors.Is(err, readmodel.ErrNotFound) {
			t.Fatalf("deleted worker found by instance: %v", err)
		}
		// A late write of an older view must not resurrect it.
		if wrote, _ := s.PutWorker(ctx, worker("w1", "alpha", "running", "us-east-1", "i-1", 4)); wrote {
			t.Fatal("older view resurrected a deleted worker")
		}
		list, _, err := s.ListWorkers(ctx, readmodel.WorkerFilter{}, "", 0)
		if err != nil || len(list) != 0 {
			t.Fatalf("list after delete: %v %v", list, err)
		}
		// A delete older than the row is ignored.
		mustPut(t, s, worker("w2", "beta", "running", "us-east-1", "", 9))
		if err := s.DeleteWorker(ctx, "w2", 8); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetWorker(ctx, "w2"); err != nil {
			t.Fatalf("stale delete removed a newer row: %v", err)
		}
	})

	t.Run("list filters order and pages", func(t *testing.T) {
		s := newStore(t)
		mustPut(t, s, worker("id-c", "Charlie", "stopped", "eu-west-1", "i-c", 1))
		mustPut(t, s, worker("id-a", "alpha", "running", "us-east-1", "i-a", 1))
		mustPut(t, s, worker("id-b", "Bravo", "running", "eu-west-1", "i-b", 1))
		mustPut(t, s, worker("id-d", "delta", "running", "us-east-1", "i-d", 1))
		tests := []struct {
			name string
			f    readmodel.WorkerFilter
			want []string
		}{
			{"all by name", readmodel.WorkerFilter{}, []string{"id-a", "id-b", "id-c", "id-d"}},
			{"status", readmodel.WorkerFilter{Status: "running"}, []string{"id-a", "id-b", "id-d"}},
			{"region", readmodel.WorkerFilter{Region: "eu-west-1"}, []string{"id-b", "id-c"}},
			{"status and region", readmodel.WorkerFilter{Status: "running", Region: "us-east-1"}, []string{"id-a", "id-d"}},
			{"text on name", readmodel.WorkerFilter{Text: "ALP"}, []string{"id-a"}},
			{"text on instance", readmodel.WorkerFilter{Text: "i-c"}, []string{"id-c"}},
			{"nothing", readmodel.WorkerFilter{Status: "terminated"}, nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var got []string
				cursor := ""
				for range 10 {
					page, next, err := s.ListWorkers(ctx, tc.f, cursor, 2)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > 2 {
						t.Fatalf("page of %d > limit 2", len(page))
					}
					for _, w := range page {
						got = append(got, w.ID)
					}
					if next == "" {
						break
					}
					cursor = next
				}
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
				}
			})
		}
		if _, _, err := s.ListWorkers(ctx, readmodel.WorkerFilter{}, "!!not-a-cursor", 2); !errors.Is(err, readmodel.ErrBadCursor) {
			t.Errorf("bad cursor: %v", err)
		}
	})

	t.Run("labs", func(t *testing.T) {
		s := newStore(t)
		lab := func(w, l string, v int64) readmodel.Lab {
			return readmodel.Lab{WorkerID: w, LabID: l, Version: v, Doc: []byte(fmt.Sprintf(`{"v":%d}`, v))}
		}
		for _, l := range []readmodel.Lab{lab("w1", "l1", 1), lab("w1", "l2", 1), lab("w2", "l1", 1), lab("w1", "l1", 3)} {
			if _, err := s.PutLab(ctx, l); err != nil {
				t.Fatal(err)
			}
		}
		if wrote, _ := s.PutLab(ctx, lab("w1", "l1", 2)); wrote {
			t.Error("older lab view overwrote a newer one")
		}
		labs, err := s.ListLabs(ctx, "w1")
		if err != nil || len(labs) != 2 {
			t.Fatalf("labs of w1: %v %v", labs, err)
		}
		if err := s.DeleteLab(ctx, "w1", "l2", 2); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetLab(ctx, "w1", "l2"); !errors.Is(err, readmodel.ErrNotFound) {
			t.Fatalf("deleted lab: %v", err)
		}
		if wrote, _ := s.PutLab(ctx, lab("w1", "l2", 1)); wrote {
			t.Error("older lab view resurrected a deleted lab")
		}
		if l, err := s.GetLab(ctx, "w1", "l1"); err != nil || l.Version != 3 {
			t.Fatalf("get lab: %+v %v", l, err)
		}
		labs, _ = s.ListLabs(ctx, "w1")
		if len(labs) != 1 {
			t.Fatalf("labs after delete: %v", labs)
		}
	})

	t.Run("activity newest first, paged, idempotent", func(t *testing.T) {
		s := newStore(t)
		base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		for v := int64(1); v <= 7; v++ {
			a := readmodel.Activity{AggregateID: "w1", Version: v, Type: "t", Actor: "alice",
				Time: base.Add(time.Duration(v) * time.Minute), Doc: []byte(`{}`)}
			for range 2 { // duplicates are harmless
				if err := s.PutActivity(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.PutActivity(ctx, readmodel.Activity{AggregateID: "w10", Version: 1, Doc: []byte(`{}`), Time: base}); err != nil {
			t.Fatal(err)
		}
		var got []int64
		cursor := ""
		for range 10 {
			page, next, err := s.ListActivity(ctx, "w1", cursor, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range page {
				got = append(got, a.Version)
			}
			if next == "" {
				break
			}
			cursor = next
		}
		if fmt.Sprint(got) != "[7 6 5 4 3 2 1]" {
			t.Fatalf("activity order %v", got)
		}
		page, _, _ := s.ListActivity(ctx, "w1", "", 1)
		if len(page) != 1 || !page[0].Time.Equal(base.Add(7*time.Minute)) || page[0].Actor != "alice" {
			t.Fatalf("activity fields: %+v", page)
		}
	})
}

func mustPut(t *testing.T, s readmodel.Store, w readmodel.Worker) {
	t.Helper()
	if _, err := s.PutWorker(context.Background(), w); err != nil {
		t.Fatal(err)
	}
}
