package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/eventstore"
)

// NewBenchStore is NewStore for benchmarks.
type NewBenchStore func(b *testing.B) (eventstore.Store, eventstore.Feed)

// Benchmark measures, for one adapter:
//
//   - Append: commits per second, one writer and 8 writers (each on its own
//     aggregate, so the figure is the store's, not the conflict rate's);
//   - Load: Repository.Load of a counter with 100 and 10,000 events, with
//     snapshots (snapshot 25 events behind the head, the tail in 5
//     commits: what a snapshot every 50 events leaves on average) and
//     without (the whole history replayed), to show the first stays flat;
//   - FeedLag: time from just before Append to the feed handler, p50 and
//     p99, with appends paced 2ms apart.
//
// Seeding writes whole commits of 20 events through Append, so a 10,000
// event history is 500 puts; loads then read it through the real path.
//
// Each figure rests on a minimum number of samples whatever b.N is, so a
// run with -benchtime 1x (make bench) still yields meaningful percentiles;
// ns/op is then reported per sample.
func Benchmark(b *testing.B, newStore NewBenchStore) {
	for _, writers := range []int{1, 8} {
		b.Run(fmt.Sprintf("Append/writers=%d", writers), func(b *testing.B) { benchAppend(b, newStore, writers) })
	}
	b.Run("Load", func(b *testing.B) { benchLoad(b, newStore) })
	b.Run("FeedLag", func(b *testing.B) { benchFeedLag(b, newStore) })
}

// Minimum samples per figure (see Benchmark).
const (
	minAppends = 200
	minLags    = 200
	minLoads   = 20
	maxLoadFor = 3 * time.Second // …unless the loads take longer than this
)

// reportPerOp replaces ns/op by the time per sample actually taken.
func reportPerOp(b *testing.B, elapsed time.Duration, n int) {
	b.ReportMetric(float64(elapsed.Nanoseconds())/float64(n), "ns/op")
}

func benchAppend(b *testing.B, newStore NewBenchStore, writers int) {
	s, _ := newStore(b)
	ctx := context.Background()
	prefix := newID("append")
	n := max(b.N, minAppends)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			id := fmt.Sprintf("%s-%d", prefix, w)
			v := int64(0)
			for next.Add(1) <= int64(n) {
				if err := s.Append(ctx, v, Events(id, v, 1)); err != nil {
					b.Error(err)
					return
				}
				v++
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.ReportMetric(float64(n)/elapsed.Seconds(), "commits/s")
	reportPerOp(b, elapsed, n)
}

const (
	seedCommit = 20 // events per seeded commit
	seedTail   = 25 // events after the snapshot, in commits of 5
)

// seed writes n events of counter id; with snapshot, a snapshot at n-25.
func seed(b *testing.B, s eventstore.Store, id string, n int, snapshot bool) {
	ctx := context.Background()
	head := int64(n - seedTail)
	c := NewCounter(id)
	for v := int64(0); v < int64(n); {
		size := min(int64(seedCommit), head-v)
		if v >= head {
			size = 5 // the tail: several commits, as the Repository writes them
		}
		evs := Events(id, v, int(size))
		if err := s.Append(ctx, v, evs); err != nil {
			b.Fatalf("seed %s: %v", id, err)
		}
		for _, e := range evs {
			if err := c.ReplayEvent(e); err != nil {
				b.Fatal(err)
			}
		}
		v += size
		if snapshot && v == head {
			schema, state, err := c.SnapshotState()
			if err != nil {
				b.Fatal(err)
			}
			if err := s.SaveSnapshot(ctx, eventstore.Snapshot{AggregateID: id, Version: v, Schema: schema,
				State: state, Time: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchLoad(b *testing.B, newStore NewBenchStore) {
	s, _ := newStore(b)
	repo := eventstore.NewRepository(s, NewCounter)
	ctx := context.Background()
	type load struct {
		n        int
		snapshot bool
		id       string
	}
	var loads []load
	for _, snapshot := range []bool{true, false} {
		for _, n := range []int{100, 10_000} {
			l := load{n: n, snapshot: snapshot, id: newID(fmt.Sprintf("load-%d-%t", n, snapshot))}
			seed(b, s, l.id, n, snapshot)
			loads = append(loads, l)
		}
	}
	for _, l := range loads {
		b.Run(fmt.Sprintf("snapshot=%t/events=%d", l.snapshot, l.n), func(b *testing.B) {
			_, tail, err := s.Load(ctx, l.id)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			start := time.Now()
			n := 0
			for n < b.N || (n < minLoads && time.Since(start) < maxLoadFor) {
				c, err := repo.Load(ctx, l.id)
				if err != nil {
					b.Fatal(err)
				}
				if c.Version() != int64(l.n) || c.Broken != "" {
					b.Fatalf("loaded v%d (%s), want v%d", c.Version(), c.Broken, l.n)
				}
				n++
			}
			reportPerOp(b, time.Since(start), n)
			b.ReportMetric(float64(len(tail)), "events-replayed")
		})
	}
}

func benchFeedLag(b *testing.B, newStore NewBenchStore) {
	s, f := newStore(b)
	id := newID("lag")
	var (
		mu   sync.Mutex
		sent = map[int64]time.Time{}
		lags []time.Duration
	)
	got := make(chan struct{}, 1)
	h := func(_ context.Context, commits []eventstore.Commit) error {
		now := time.Now()
		mu.Lock()
		for _, c := range commits {
			if t, ok := sent[c.FirstVersion()]; ok {
				lags = append(lags, now.Sub(t))
				delete(sent, c.FirstVersion())
			}
		}
		mu.Unlock()
		select {
		case got <- struct{}{}:
		default:
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx, h) }()
	defer func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			b.Errorf("feed: %v", err)
		}
	}()
	waitLags := func(n int) {
		deadline := time.After(feedWait)
		for {
			mu.Lock()
			k := len(lags)
			mu.Unlock()
			if k >= n {
				return
			}
			select {
			case <-got:
			case <-deadline:
				b.Fatalf("feed delivered %d of %d commits", k, n)
			}
		}
	}
	// Warm up: the first delivery includes the feed's start (describe,
	// iterators), which is not lag.
	appendAt := func(v int64) {
		mu.Lock()
		sent[v+1] = time.Now()
		mu.Unlock()
		if err := s.Append(context.Background(), v, Events(id, v, 1)); err != nil {
			b.Fatal(err)
		}
	}
	appendAt(0)
	waitLags(1)
	mu.Lock()
	lags = lags[:0]
	mu.Unlock()

	n := max(b.N, minLags)
	b.ResetTimer()
	start := time.Now()
	for i := range n {
		appendAt(int64(i) + 1)
		time.Sleep(2 * time.Millisecond)
	}
	waitLags(n)
	b.StopTimer()
	reportPerOp(b, time.Since(start), n)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lags)
	pct := func(p float64) float64 {
		return float64(lags[min(len(lags)-1, int(p*float64(len(lags))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
