package bolt_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/eventstore/bolt"
	"github.com/cmlcm/cmlcm/internal/eventstore/storetest"
)

func open(tb testing.TB, path string) *bolt.Store {
	tb.Helper()
	// Redelivery warnings are expected here; keep test output readable.
	s, err := bolt.Open(path, bolt.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func newFeed(tb testing.TB, s *bolt.Store, consumer string) *bolt.Feed {
	tb.Helper()
	f, err := bolt.NewFeed(s, consumer, bolt.WithRetryBackoff(10*time.Millisecond, 100*time.Millisecond))
	if err != nil {
		tb.Fatal(err)
	}
	return f
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (eventstore.Store, eventstore.Feed) {
		s := open(t, filepath.Join(t.TempDir(), "events.db"))
		return s, newFeed(t, s, "contract")
	})
}

// TestStrictExpectedVersion: the embedded store checks the head itself, so
// an expected version ahead of the head or inside a commit is a conflict,
// not a gap or an overlap.
func TestStrictExpectedVersion(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "events.db"))
	ctx := context.Background()
	if err := s.Append(ctx, 0, storetest.Events("a", 0, 3)); err != nil {
		t.Fatal(err)
	}
	for _, expected := range []int64{1, 2, 4, 10} {
		if err := s.Append(ctx, expected, storetest.Events("a", expected, 1)); !errors.Is(err, eventstore.ErrConflict) {
			t.Errorf("append at v%d with head v3: %v, want ErrConflict", expected, err)
		}
	}
}

// TestFeedRestartResumes closes the file and reopens it, as a process
// restart does: the consumer's cursor survives, other consumers keep
// their own.
func TestFeedRestartResumes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	ctx := context.Background()
	s := open(t, path)
	if err := s.Append(ctx, 0, storetest.Events("a", 0, 2)); err != nil {
		t.Fatal(err)
	}
	got := consume(t, newFeed(t, s, "projector"), 1)
	if len(got) != 1 || got[0].FirstVersion() != 1 {
		t.Fatalf("first run got %d commits", len(got))
	}
	if err := s.Append(ctx, 2, storetest.Events("a", 2, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	got = consume(t, newFeed(t, s, "projector"), 1)
	if len(got) != 1 || got[0].FirstVersion() != 3 {
		t.Fatalf("after restart got %+v, want only the commit at v3", got)
	}
	// A new consumer starts from the beginning.
	if got := consume(t, newFeed(t, s, "notifier"), 2); len(got) != 2 {
		t.Fatalf("new consumer got %d commits, want 2", len(got))
	}
}

// consume runs f until its handler has accepted n commits.
func consume(t *testing.T, f *bolt.Feed, n int) []eventstore.Commit {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var got []eventstore.Commit
	err := f.Run(ctx, func(_ context.Context, commits []eventstore.Commit) error {
		got = append(got, commits...)
		if len(got) >= n {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v (got %d commits)", err, len(got))
	}
	return got
}

func TestFeedBusyAndClose(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "events.db"))
	f := newFeed(t, s, "c")
	done := make(chan error, 1)
	go func() {
		done <- f.Run(context.Background(), func(context.Context, []eventstore.Commit) error { return nil })
	}()
	time.Sleep(50 * time.Millisecond)
	if err := newFeed(t, s, "c").Run(context.Background(), nil); !errors.Is(err, bolt.ErrConsumerBusy) {
		t.Fatalf("second Run of the same consumer: %v, want ErrConsumerBusy", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}

func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) (eventstore.Store, eventstore.Feed) {
		s := open(b, filepath.Join(b.TempDir(), "events.db"))
		return s, newFeed(b, s, "bench")
	})
}

func TestConcurrentWorker(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "events.db"))
	storetest.ConcurrentWorker(t, s, newFeed(t, s, "worker"))
}
