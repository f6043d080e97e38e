package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
)

// Concurrent issues goroutines conflicting commands on one aggregate at
// once, each through Repository.Update, and checks what optimistic
// concurrency promises:
//
//   - every command that returned nil is in the history exactly once (one
//     commit holding exactly the events its final decision recorded), and
//     every command that failed — only with ErrConflict, after the bounded
//     retries — left nothing;
//   - versions run 1…head with none duplicated or skipped, event ids unique;
//   - the aggregate loaded through the Repository (snapshot + tail) equals
//     a sequential replay of the history;
//   - if feed is not nil, it delivered every commit once, in order (so s
//     must be fresh: no other aggregate's commits in its feed).
//
// Commands are told apart by their correlation id (event.Meta), so any
// aggregate works: the counter here, the worker in its own package. create
// makes the aggregate; command(g, a) is goroutine g's decision. It returns
// the loaded aggregate for aggregate-specific checks.
func Concurrent[A eventstore.Aggregate](t *testing.T, s eventstore.Store, feed eventstore.Feed,
	newAggregate func(id string) A, create func(A) error, command func(g int, a A) error, goroutines int,
	opts ...eventstore.Option) A {
	t.Helper()
	ctx := ctxT(t)
	var c *collector
	if feed != nil {
		c = newCollector()
		runFeed(t, feed, c.handle)
	}
	// Snapshots every 7 events, so loads under contention mix snapshot and
	// tail; attempts are generous so most commands get through.
	opts = append([]eventstore.Option{eventstore.WithSnapshotEvery(7), eventstore.WithMaxAttempts(40)}, opts...)
	repo := eventstore.NewRepository(s, newAggregate, opts...)
	id := newID("contended")
	createCtx := event.WithMeta(ctx, event.Meta{Actor: "user:test", CorrelationID: "create"})
	if _, err := repo.Create(createCtx, id, create); err != nil {
		t.Fatalf("create: %v", err)
	}

	errs := make([]error, goroutines)
	recorded := make([]int, goroutines) // events of each goroutine's last decision
	start := make(chan struct{})
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			gctx := event.WithMeta(ctx, event.Meta{Actor: "user:test", CorrelationID: corr(g)})
			<-start
			_, errs[g] = repo.Update(gctx, id, func(a A) error {
				err := command(g, a)
				recorded[g] = len(a.Pending())
				return err
			})
		})
	}
	close(start)
	wg.Wait()

	succeeded := 0
	for g, err := range errs {
		switch {
		case err == nil:
			succeeded++
		case errors.Is(err, eventstore.ErrConflict):
		default:
			t.Fatalf("goroutine %d: %v, want nil or ErrConflict", g, err)
		}
	}
	t.Logf("%d of %d commands succeeded", succeeded, goroutines)
	if succeeded < goroutines/2 {
		t.Errorf("only %d of %d commands succeeded", succeeded, goroutines)
	}

	all := history(t, s, id)
	seen := map[string]bool{}
	byCorr := map[string][]int64{} // correlation id → versions
	for i, e := range all {
		if e.Version != int64(i)+1 {
			t.Fatalf("event %d has version %d: duplicated or skipped", i, e.Version)
		}
		if seen[e.ID] {
			t.Fatalf("event id %s twice", e.ID)
		}
		seen[e.ID] = true
		byCorr[e.CorrelationID] = append(byCorr[e.CorrelationID], e.Version)
	}
	for g, err := range errs {
		versions := byCorr[corr(g)]
		want := 0
		if err == nil {
			want = recorded[g]
		}
		if len(versions) != want {
			t.Fatalf("goroutine %d (err %v) has %d events in the history, want %d", g, err, len(versions), want)
		}
		if want > 0 && versions[len(versions)-1]-versions[0] != int64(want-1) {
			t.Fatalf("goroutine %d's events %v are not one commit", g, versions)
		}
		delete(byCorr, corr(g))
	}
	delete(byCorr, "create")
	if len(byCorr) != 0 {
		t.Fatalf("events of unknown commands: %v", byCorr)
	}

	loaded, err := repo.Load(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	replayed := newAggregate(id)
	for _, e := range all {
		if err := replayed.ReplayEvent(e); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	_, ls, err := loaded.SnapshotState()
	if err != nil {
		t.Fatal(err)
	}
	_, rs, err := replayed.SnapshotState()
	if err != nil {
		t.Fatal(err)
	}
	if string(ls) != string(rs) || loaded.Version() != replayed.Version() {
		t.Fatalf("loaded (snapshot + tail) v%d %s\n!= sequential replay v%d %s", loaded.Version(), ls, replayed.Version(), rs)
	}

	if c != nil {
		got := c.waitFor(t, len(all))
		var commits [][]event.Event
		for i := 0; i < len(all); {
			j := i + 1
			for j < len(all) && all[j].CorrelationID == all[i].CorrelationID {
				j++
			}
			commits = append(commits, all[i:j])
			i = j
		}
		checkDelivered(t, got, map[string][][]event.Event{id: commits})
	}
	return loaded
}

func corr(g int) string { return fmt.Sprintf("g%02d", g) }

// testConcurrency50 runs Concurrent on the counter. Every decision depends
// on the state it saw (the new total), so a stale decision that slipped
// through would also show as a Broken counter.
func testConcurrency50(t *testing.T, newStore NewStore) {
	s, f := newStore(t)
	c := Concurrent(t, s, f, NewCounter,
		func(c *Counter) error { return c.Increment("create") },
		func(g int, c *Counter) error {
			if g%5 == 0 {
				return c.Add(2, corr(g)) // some commands commit two events
			}
			return c.Increment(corr(g))
		}, 50)
	if c.Broken != "" {
		t.Fatalf("lost update: %s", c.Broken)
	}
	if c.Total != int(c.Version()) || len(c.Tokens) != c.Total {
		t.Fatalf("total %d, %d tokens at v%d", c.Total, len(c.Tokens), c.Version())
	}
	if !slices.Contains(c.Tokens, "create") {
		t.Fatal("create event missing")
	}
}
