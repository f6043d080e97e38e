package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/eventstore/bolt"
	"github.com/cmlcm/cmlcm/internal/eventstore/storetest"
)

// spyStore wraps a real (embedded) store. It counts writes, can let a rival
// writer commit just before each Append (a genuine lost race, not a faked
// error), and can fail snapshots.
type spyStore struct {
	eventstore.Store
	mu            sync.Mutex
	appends       int
	rivals        int // rival commits still to inject
	snapshots     []int64
	snapshotError error
}

func (s *spyStore) Append(ctx context.Context, expected int64, events []event.Event) error {
	s.mu.Lock()
	s.appends++
	rival := s.rivals > 0
	if rival {
		s.rivals--
	}
	s.mu.Unlock()
	if rival {
		if err := s.Store.Append(ctx, expected, storetest.Events(events[0].AggregateID, expected, 1)); err != nil {
			return err
		}
	}
	return s.Store.Append(ctx, expected, events)
}

func (s *spyStore) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	s.mu.Lock()
	s.snapshots = append(s.snapshots, snap.Version)
	err := s.snapshotError
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.Store.SaveSnapshot(ctx, snap)
}

func newSpy(t *testing.T) *spyStore {
	t.Helper()
	s, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return &spyStore{Store: s}
}

func newRepo(s eventstore.Store, opts ...eventstore.Option) *eventstore.Repository[*storetest.Counter] {
	return eventstore.NewRepository(s, storetest.NewCounter, opts...)
}

func create(t *testing.T, repo *eventstore.Repository[*storetest.Counter], id string) {
	t.Helper()
	if _, err := repo.Create(context.Background(), id, func(c *storetest.Counter) error { return c.Increment("create") }); err != nil {
		t.Fatal(err)
	}
}

func TestUpdateRetryBound(t *testing.T) {
	tests := []struct {
		name        string
		rivals      int
		maxAttempts int
		wantErr     error
		wantDecides int
		wantTotal   int // after the command
	}{
		{"no race", 0, 3, nil, 1, 2},
		{"wins on the last attempt", 2, 3, nil, 3, 4},
		{"loses every attempt", 5, 3, eventstore.ErrConflict, 3, 4},
		{"single attempt", 1, 1, eventstore.ErrConflict, 1, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpy(t)
			repo := newRepo(s, eventstore.WithMaxAttempts(tc.maxAttempts))
			create(t, repo, "c")
			s.rivals = tc.rivals
			decides := 0
			_, err := repo.Update(context.Background(), "c", func(c *storetest.Counter) error {
				decides++
				return c.Increment("cmd")
			})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Update: %v, want %v", err, tc.wantErr)
			}
			if decides != tc.wantDecides {
				t.Errorf("decide ran %d times, want %d (decided again on fresh state after each conflict)", decides, tc.wantDecides)
			}
			c, err := repo.Load(context.Background(), "c")
			if err != nil {
				t.Fatal(err)
			}
			if c.Total != tc.wantTotal || c.Broken != "" {
				t.Errorf("total %d (broken %q), want %d", c.Total, c.Broken, tc.wantTotal)
			}
			if got := slices.Contains(c.Tokens, "cmd"); got != (tc.wantErr == nil) {
				t.Errorf("command's event present: %v, want %v", got, tc.wantErr == nil)
			}
		})
	}
}

func TestUpdateWritesNothing(t *testing.T) {
	errNo := errors.New("worker is stopped")
	tests := []struct {
		name    string
		decide  func(*storetest.Counter) error
		wantErr error
	}{
		{"decide error", func(c *storetest.Counter) error { return errNo }, errNo},
		{"decide error after recording", func(c *storetest.Counter) error {
			_ = c.Increment("half")
			return errNo
		}, errNo},
		{"no-op decide", func(c *storetest.Counter) error { return nil }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpy(t)
			repo := newRepo(s)
			create(t, repo, "c")
			before := s.appends
			_, err := repo.Update(context.Background(), "c", tc.decide)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Update: %v, want %v", err, tc.wantErr)
			}
			if s.appends != before {
				t.Fatalf("%d appends, want none", s.appends-before)
			}
		})
	}
}

func TestSnapshotCadence(t *testing.T) {
	tests := []struct {
		name    string
		every   int
		commits []int // events per Update after the 1-event create
		want    []int64
	}{
		{"single events", 5, []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, []int64{5, 10}},
		{"commit crossing a multiple", 5, []int{2, 4}, []int64{7}},           // v1, v2-3, v4-7
		{"commit crossing two multiples", 5, []int{11}, []int64{12}},         // one snapshot, at its end
		{"commit ending on a multiple", 5, []int{4, 5}, []int64{5, 10}},      // v2-5, v6-10
		{"default every 50", 0, []int{20, 20, 20, 20, 20}, []int64{61, 101}}, // v2-21 … v82-101
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSpy(t)
			var opts []eventstore.Option
			if tc.every > 0 {
				opts = append(opts, eventstore.WithSnapshotEvery(tc.every))
			}
			repo := newRepo(s, opts...)
			create(t, repo, "c")
			for _, n := range tc.commits {
				if _, err := repo.Update(context.Background(), "c", func(c *storetest.Counter) error { return c.Add(n, "") }); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(s.snapshots, tc.want) {
				t.Fatalf("snapshots at %v, want %v", s.snapshots, tc.want)
			}
		})
	}
}

func TestSnapshotFailureDoesNotFailCommand(t *testing.T) {
	s := newSpy(t)
	s.snapshotError = errors.New("throttled")
	repo := newRepo(s, eventstore.WithSnapshotEvery(2))
	create(t, repo, "c")
	c, err := repo.Update(context.Background(), "c", func(c *storetest.Counter) error { return c.Increment("x") })
	if err != nil || c.Version() != 2 {
		t.Fatalf("Update: v%d, %v; want v2 committed despite the snapshot error", c.Version(), err)
	}
	if len(s.snapshots) != 1 {
		t.Fatalf("snapshot attempts %v, want one", s.snapshots)
	}
}

// A snapshot in a schema the aggregate no longer reads is ignored and the
// aggregate rebuilt from its whole history.
func TestLoadIgnoresOldSnapshotSchema(t *testing.T) {
	s := newSpy(t)
	repo := newRepo(s)
	create(t, repo, "c")
	for range 3 {
		if _, err := repo.Update(context.Background(), "c", func(c *storetest.Counter) error { return c.Increment("") }); err != nil {
			t.Fatal(err)
		}
	}
	err := s.Store.SaveSnapshot(context.Background(), eventstore.Snapshot{AggregateID: "c", Version: 3, Schema: 99,
		State: json.RawMessage(`{"total":-1}`)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := repo.Load(context.Background(), "c")
	if err != nil {
		t.Fatal(err)
	}
	if c.Total != 4 || c.Version() != 4 {
		t.Fatalf("loaded total %d v%d, want 4 v4 (replayed)", c.Total, c.Version())
	}
}

func TestCreateAndUpdateErrors(t *testing.T) {
	s := newSpy(t)
	repo := newRepo(s)
	create(t, repo, "c")
	ctx := context.Background()
	if _, err := repo.Create(ctx, "c", func(c *storetest.Counter) error { return c.Increment("again") }); !errors.Is(err, eventstore.ErrConflict) {
		t.Errorf("Create of an existing aggregate: %v, want ErrConflict", err)
	}
	if _, err := repo.Update(ctx, "missing", func(c *storetest.Counter) error { return c.Increment("") }); !errors.Is(err, eventstore.ErrNotFound) {
		t.Errorf("Update of a missing aggregate: %v, want ErrNotFound", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	s.rivals = 100
	if _, err := repo.Update(cctx, "c", func(c *storetest.Counter) error { return c.Increment("") }); !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a cancelled context: %v, want context.Canceled", err)
	}
}
