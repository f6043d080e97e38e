// Package storetest is the contract every event store adapter passes: Run
// drives a Store and its Feed through the behaviour the command layer and
// the projector rely on, and Benchmark measures the figures `make bench`
// prints. Adapters call both from their own tests with a constructor that
// returns a fresh, empty store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
)

// NewStore returns a fresh, empty store and a feed of it. The feed must not
// have delivered anything yet and must be stopped when the test ends (the
// suite cancels every Run it starts).
type NewStore func(t *testing.T) (eventstore.Store, eventstore.Feed)

// feedWait bounds how long a test waits for the feed to deliver: generous,
// because the DynamoDB feed polls and moto shares two cores.
const feedWait = 30 * time.Second

// Run runs the contract suite.
func Run(t *testing.T, newStore NewStore) {
	tests := []struct {
		name string
		run  func(t *testing.T, newStore NewStore)
	}{
		{"AppendLoad", testAppendLoad},
		{"NotFound", testNotFound},
		{"InvalidAppend", testInvalidAppend},
		{"Conflict", testConflict},
		{"ConcurrentSameExpected", testConcurrentSameExpected},
		{"SnapshotTail", testSnapshotTail},
		{"SnapshotNotOverwrittenByOlder", testSnapshotNotOverwritten},
		{"InvalidSnapshot", testInvalidSnapshot},
		{"HistoryPaging", testHistoryPaging},
		{"HistoryCursorErrors", testHistoryCursorErrors},
		{"FeedDeliversInOrder", testFeedOrder},
		{"FeedRedeliversAfterHandlerError", testFeedRedelivery},
		{"FeedResumesAfterStop", testFeedResume},
		{"RepositorySnapshotCadence", testRepositorySnapshots},
		{"Concurrency50", testConcurrency50},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore) })
	}
}

// Events returns n events of aggregate id with versions from+1…from+n, as a
// Counter would record them (so Repository can load them).
func Events(id string, from int64, n int) []event.Event {
	out := make([]event.Event, n)
	now := time.Now().UTC()
	for i := range out {
		v := from + int64(i) + 1
		data, _ := json.Marshal(Incremented{Total: int(v)})
		out[i] = event.Event{ID: uuid.NewString(), Type: (*Incremented).EventType(nil), AggregateType: CounterType,
			AggregateID: id, Version: v, Time: now, Actor: "user:test", CorrelationID: "corr-" + id,
			SchemaVersion: event.SchemaVersion, Data: data}
	}
	return out
}

func newID(prefix string) string { return prefix + "-" + uuid.NewString()[:8] }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// sameEvents compares events as the store's clients see them: their JSON.
func sameEvents(t *testing.T, what string, got, want []event.Event) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return // nil and empty are the same history
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func mustAppend(t *testing.T, s eventstore.Store, expected int64, evs []event.Event) {
	t.Helper()
	if err := s.Append(ctxT(t), expected, evs); err != nil {
		t.Fatalf("append v%d+%d: %v", expected, len(evs), err)
	}
}

func testAppendLoad(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	id := newID("agg")
	first, second := Events(id, 0, 1), Events(id, 1, 3)
	mustAppend(t, s, 0, first)
	mustAppend(t, s, 1, second)
	// Another aggregate's history must not leak into this one's.
	mustAppend(t, s, 0, Events(newID("other"), 0, 2))

	snap, evs, err := s.Load(ctx, id)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if snap != nil {
		t.Fatalf("snapshot %+v, want none", snap)
	}
	sameEvents(t, "loaded events", evs, append(slices.Clone(first), second...))
}

func testNotFound(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	if _, _, err := s.Load(ctx, "missing"); !errors.Is(err, eventstore.ErrNotFound) {
		t.Errorf("Load of a missing aggregate: %v, want ErrNotFound", err)
	}
	if _, err := s.History(ctx, "missing", "", 10); !errors.Is(err, eventstore.ErrNotFound) {
		t.Errorf("History of a missing aggregate: %v, want ErrNotFound", err)
	}
}

func testInvalidAppend(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	id := newID("agg")
	mixed := append(Events(id, 0, 1), Events(newID("x"), 1, 1)...)
	gap := Events(id, 0, 3)
	gap = []event.Event{gap[0], gap[2]}
	noID := Events("", 0, 1)
	tests := []struct {
		name     string
		expected int64
		events   []event.Event
	}{
		{"no events", 0, nil},
		{"negative expected", -1, Events(id, -1, 1)},
		{"first version not expected+1", 0, Events(id, 1, 1)},
		{"version gap", 0, gap},
		{"several aggregates", 0, mixed},
		{"empty aggregate id", 0, noID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Append(ctx, tc.expected, tc.events); !errors.Is(err, eventstore.ErrInvalid) {
				t.Fatalf("append: %v, want ErrInvalid", err)
			}
		})
	}
	// Nothing was written by any of them.
	if _, _, err := s.Load(ctx, id); !errors.Is(err, eventstore.ErrNotFound) {
		t.Fatalf("load after invalid appends: %v, want ErrNotFound", err)
	}
}

func testConflict(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	id := newID("agg")
	mustAppend(t, s, 0, Events(id, 0, 1)) // v1
	mustAppend(t, s, 1, Events(id, 1, 2)) // v2-3
	tests := []struct {
		name     string
		expected int64
		n        int
	}{
		{"create existing", 0, 1},
		{"stale at a commit boundary", 1, 1},
		{"stale, multi-event", 1, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Append(ctx, tc.expected, Events(id, tc.expected, tc.n))
			if !errors.Is(err, eventstore.ErrConflict) {
				t.Fatalf("append at stale v%d: %v, want ErrConflict", tc.expected, err)
			}
		})
	}
	_, evs, err := s.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[2].Version != 3 {
		t.Fatalf("after conflicts: %d events, want the 3 first written", len(evs))
	}
	mustAppend(t, s, 3, Events(id, 3, 1)) // the head still accepts
}

func testConcurrentSameExpected(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	id := newID("agg")
	mustAppend(t, s, 0, Events(id, 0, 2))
	const writers = 8
	batches := make([][]event.Event, writers)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		batches[i] = Events(id, 2, 1+i%3)
		wg.Go(func() {
			<-start
			errs[i] = s.Append(ctx, 2, batches[i])
		})
	}
	close(start)
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both appended at v2", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, eventstore.ErrConflict):
			t.Fatalf("writer %d: %v, want nil or ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	_, evs, err := s.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "the winner's events", evs[2:], batches[winner])
}

func snapshotOf(id string, v int64, state string) eventstore.Snapshot {
	return eventstore.Snapshot{AggregateID: id, Version: v, Schema: 1, State: json.RawMessage(state),
		Time: time.Now().UTC()}
}

func testSnapshotTail(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	id := newID("agg")
	var all []event.Event
	v := int64(0)
	for _, n := range []int{1, 2, 3, 1, 4} { // commits at v1, 2, 4, 7, 8 → head 11
		evs := Events(id, v, n)
		mustAppend(t, s, v, evs)
		all = append(all, evs...)
		v += int64(n)
	}
	tests := []struct {
		snapshot int64 // at a commit boundary
		state    string
	}{
		{3, `{"total":3}`},
		{7, `{"total":7}`},
		{11, `{"total":11}`}, // at the head: empty tail
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("v%d", tc.snapshot), func(t *testing.T) {
			if err := s.SaveSnapshot(ctx, snapshotOf(id, tc.snapshot, tc.state)); err != nil {
				t.Fatalf("save snapshot: %v", err)
			}
			snap, tail, err := s.Load(ctx, id)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			if snap == nil || snap.Version != tc.snapshot || snap.Schema != 1 || string(snap.State) != tc.state ||
				snap.AggregateID != id {
				t.Fatalf("snapshot %+v, want v%d %s", snap, tc.snapshot, tc.state)
			}
			sameEvents(t, "tail", tail, all[tc.snapshot:])
		})
	}
}

func testSnapshotNotOverwritten(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	id := newID("agg")
	mustAppend(t, s, 0, Events(id, 0, 10))
	mustAppend(t, s, 10, Events(id, 10, 10))
	if err := s.SaveSnapshot(ctx, snapshotOf(id, 10, `{"total":10}`)); err != nil {
		t.Fatal(err)
	}
	for _, older := range []eventstore.Snapshot{
		snapshotOf(id, 5, `{"total":5}`),
		snapshotOf(id, 10, `{"total":-1}`), // same version: first one stays
	} {
		if err := s.SaveSnapshot(ctx, older); err != nil {
			t.Fatalf("save older snapshot v%d: %v, want nil (ignored)", older.Version, err)
		}
		snap, tail, err := s.Load(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if snap.Version != 10 || string(snap.State) != `{"total":10}` || len(tail) != 10 {
			t.Fatalf("after saving v%d: snapshot v%d %s with %d tail events, want v10 kept", older.Version,
				snap.Version, snap.State, len(tail))
		}
	}
	if err := s.SaveSnapshot(ctx, snapshotOf(id, 20, `{"total":20}`)); err != nil {
		t.Fatal(err)
	}
	if snap, tail, _ := s.Load(ctx, id); snap.Version != 20 || len(tail) != 0 {
		t.Fatalf("newer snapshot not taken: v%d, %d tail events", snap.Version, len(tail))
	}
}

func testInvalidSnapshot(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	for _, snap := range []eventstore.Snapshot{
		snapshotOf("", 1, `{}`),
		snapshotOf("a", 0, `{}`),
	} {
		if err := s.SaveSnapshot(ctx, snap); !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("SaveSnapshot(%q v%d): %v, want ErrInvalid", snap.AggregateID, snap.Version, err)
		}
	}
}

func testHistoryPaging(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	id := newID("agg")
	var all []event.Event
	v := int64(0)
	for i := range 30 { // 30 commits of 1 to 4 events: 75 events
		evs := Events(id, v, 1+i%4)
		mustAppend(t, s, v, evs)
		all = append(all, evs...)
		v += int64(len(evs))
	}
	if err := s.SaveSnapshot(ctx, snapshotOf(id, 10, `{"total":10}`)); err != nil {
		t.Fatal(err) // a snapshot must not appear in, or end, the history
	}
	for _, limit := range []int{1, 3, 4, 7, 75, 1000} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			var got []event.Event
			cursor := ""
			for pages := 1; ; pages++ {
				page, err := s.History(ctx, id, cursor, limit)
				if err != nil {
					t.Fatalf("page %d: %v", pages, err)
				}
				if page.Next != "" && len(page.Events) != limit {
					t.Fatalf("page %d has %d events and a next page, want exactly %d", pages, len(page.Events), limit)
				}
				if len(page.Events) == 0 || len(page.Events) > limit {
					t.Fatalf("page %d has %d events (limit %d)", pages, len(page.Events), limit)
				}
				// A cursor can be read again: same page.
				if pages <= 3 {
					again, err := s.History(ctx, id, cursor, limit)
					if err != nil || again.Next != page.Next || len(again.Events) != len(page.Events) {
						t.Fatalf("page %d read twice differs (%v)", pages, err)
					}
				}
				got = append(got, page.Events...)
				if page.Next == "" {
					break
				}
				if pages > len(all) {
					t.Fatal("paging does not end")
				}
				cursor = page.Next
			}
			sameEvents(t, "history", got, all)
		})
	}
}

func testHistoryCursorErrors(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	id := newID("agg")
	mustAppend(t, s, 0, Events(id, 0, 3))
	for _, cursor := range []string{"%%%", "bm90LWEtY3Vyc29y" /* "not-a-cursor" */} {
		if _, err := s.History(ctx, id, cursor, 10); !errors.Is(err, eventstore.ErrInvalid) {
			t.Errorf("History with cursor %q: %v, want ErrInvalid", cursor, err)
		}
	}
}

// collector is a feed handler that records what it accepted.
type collector struct {
	mu       sync.Mutex
	accepted []eventstore.Commit
	calls    int
	fail     int // fail this many more calls
	failed   [][]eventstore.Commit
	changed  chan struct{}
}

func newCollector() *collector { return &collector{changed: make(chan struct{}, 1)} }

func (c *collector) handle(_ context.Context, commits []eventstore.Commit) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	defer func() {
		select {
		case c.changed <- struct{}{}:
		default:
		}
	}()
	if c.fail > 0 {
		c.fail--
		c.failed = append(c.failed, commits)
		return errors.New("handler says no")
	}
	c.accepted = append(c.accepted, commits...)
	return nil
}

func (c *collector) snapshot() []eventstore.Commit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.accepted)
}

// waitFor waits until the accepted commits hold n events.
func (c *collector) waitFor(t *testing.T, n int) []eventstore.Commit {
	t.Helper()
	deadline := time.After(feedWait)
	for {
		got := c.snapshot()
		count := 0
		for _, cm := range got {
			count += len(cm.Events)
		}
		if count >= n {
			return got
		}
		select {
		case <-c.changed:
		case <-deadline:
			t.Fatalf("feed delivered %d of %d events within %s", count, n, feedWait)
		}
	}
}

// runFeed starts f in the background; the returned stop cancels it and
// checks it ended with the context's error.
func runFeed(t *testing.T, f eventstore.Feed, h eventstore.Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, h) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("feed Run returned %v, want context.Canceled", err)
				}
			case <-time.After(feedWait):
				t.Errorf("feed Run did not return after cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// checkDelivered checks that accepted holds every commit of want exactly
// once, and each aggregate's commits in version order.
func checkDelivered(t *testing.T, accepted []eventstore.Commit, want map[string][][]event.Event) {
	t.Helper()
	got := map[string][][]event.Event{}
	for _, c := range accepted {
		if c.CommittedAt.IsZero() {
			t.Errorf("commit %s v%d has no CommittedAt", c.AggregateID, c.FirstVersion())
		}
		if len(c.Events) == 0 || c.AggregateType != c.Events[0].AggregateType {
			t.Errorf("commit %s v%d has aggregate type %q", c.AggregateID, c.FirstVersion(), c.AggregateType)
		}
		got[c.AggregateID] = append(got[c.AggregateID], c.Events)
	}
	if len(got) != len(want) {
		t.Fatalf("feed delivered commits of %d aggregates, want %d", len(got), len(want))
	}
	for id, commits := range want {
		g, _ := json.Marshal(got[id])
		w, _ := json.Marshal(commits)
		if string(g) != string(w) {
			t.Fatalf("aggregate %s: feed delivered\n%s\nwant each commit once, in order:\n%s", id, g, w)
		}
	}
}

func testFeedOrder(t *testing.T, newStore NewStore) {
	s, f := newStore(t)
	ctx := ctxT(t)
	const aggregates, commits = 4, 12
	prefix := newID("feed")
	want := map[string][][]event.Event{}
	var mu sync.Mutex
	total := 0
	write := func(from, to int) {
		var wg sync.WaitGroup
		for a := range aggregates {
			id := fmt.Sprintf("%s-%d", prefix, a)
			wg.Go(func() {
				for i := from; i < to; i++ {
					mu.Lock()
					v := int64(0)
					for _, evs := range want[id] {
						v += int64(len(evs))
					}
					mu.Unlock()
					evs := Events(id, v, 1+(a+i)%3)
					if err := s.Append(ctx, v, evs); err != nil {
						t.Errorf("append %s v%d: %v", id, v, err) // not Fatal: not the test goroutine
						return
					}
					mu.Lock()
					want[id] = append(want[id], evs)
					total += len(evs)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
	}
	write(0, commits/2) // before the feed starts: it catches up
	c := newCollector()
	stop := runFeed(t, f, c.handle)
	write(commits/2, commits) // while it runs, interleaved across aggregates
	got := c.waitFor(t, total)
	stop()
	checkDelivered(t, got, want)
}

func testFeedRedelivery(t *testing.T, newStore NewStore) {
	s, f := newStore(t)
	id := newID("redeliver")
	want := map[string][][]event.Event{}
	v := int64(0)
	appendN := func(n int) {
		evs := Events(id, v, n)
		mustAppend(t, s, v, evs)
		want[id] = append(want[id], evs)
		v += int64(n)
	}
	appendN(1)
	appendN(2)
	c := newCollector()
	runFeed(t, f, c.handle)
	c.waitFor(t, 3)

	c.mu.Lock()
	c.fail = 2 // the next two deliveries fail
	c.mu.Unlock()
	appendN(3)
	appendN(1)
	got := c.waitFor(t, 7)
	checkDelivered(t, got, want) // accepted ones: each once, in order; nothing before the failure again

	c.mu.Lock()
	failed := c.failed
	c.mu.Unlock()
	if len(failed) != 2 {
		t.Fatalf("handler failed %d times, want 2", len(failed))
	}
	// The first failed batch was about v4; it must be what came back.
	if failed[0][0].FirstVersion() != 4 {
		t.Fatalf("first failed batch starts at v%d, want v4", failed[0][0].FirstVersion())
	}
}

func testFeedResume(t *testing.T, newStore NewStore) {
	s, f := newStore(t)
	id := newID("resume")
	mustAppend(t, s, 0, Events(id, 0, 2))
	c := newCollector()
	stop := runFeed(t, f, c.handle)
	c.waitFor(t, 2)
	stop()

	more := Events(id, 2, 3)
	mustAppend(t, s, 2, more)
	c2 := newCollector()
	runFeed(t, f, c2.handle)
	got := c2.waitFor(t, 3)
	checkDelivered(t, got, map[string][][]event.Event{id: {more}})
}

func testRepositorySnapshots(t *testing.T, newStore NewStore) {
	s, _ := newStore(t)
	ctx := ctxT(t)
	repo := eventstore.NewRepository(s, NewCounter, eventstore.WithSnapshotEvery(10))
	id := newID("repo")
	if _, err := repo.Create(ctx, id, func(c *Counter) error { return c.Increment("create") }); err != nil {
		t.Fatal(err)
	}
	for i := range 25 { // v2…v26, snapshots when crossing 10 and 20
		n := 1
		if i == 7 {
			n = 3 // one multi-event commit v9…v11 crosses 10: snapshot at 11
		}
		if _, err := repo.Update(ctx, id, func(c *Counter) error { return c.Add(n, fmt.Sprint(i)) }); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	snap, tail, err := s.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if snap == nil || snap.Version != 20 {
		t.Fatalf("snapshot %+v, want v20", snap)
	}
	if len(tail) != 8 || tail[0].Version != 21 {
		t.Fatalf("tail of %d events from v%d, want v21…v28", len(tail), tail[0].Version)
	}
	c, err := repo.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Version() != 28 || c.Total != 28 || c.Broken != "" {
		t.Fatalf("loaded counter v%d total %d broken %q, want v28 total 28", c.Version(), c.Total, c.Broken)
	}
}

// history reads an aggregate's full history through History.
func history(t *testing.T, s eventstore.Store, id string) []event.Event {
	t.Helper()
	var all []event.Event
	cursor := ""
	for {
		page, err := s.History(ctxT(t), id, cursor, 40)
		if err != nil {
			t.Fatalf("history: %v", err)
		}
		all = append(all, page.Events...)
		if page.Next == "" {
			return all
		}
		cursor = page.Next
	}
}
