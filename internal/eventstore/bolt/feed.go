package bolt

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	bbolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/eventstore/internal/layout"
)

// Feed is the embedded change feed of one named consumer. It reads the
// store's append log from the consumer's persisted cursor, and moves the
// cursor only after the handler accepted a batch: a crash or a handler error
// redelivers that batch (at least once), and a restart resumes where the
// consumer stopped.
//
// It sleeps until an append wakes it (a channel the store closes on every
// commit), with a slow fallback poll as a safety net, so an idle feed costs
// nothing and a new commit reaches the handler within microseconds.
type Feed struct {
	store      *Store
	consumer   string
	batch      int
	poll       time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	log        *slog.Logger
}

var _ eventstore.Feed = (*Feed)(nil)

// FeedOption configures a Feed.
type FeedOption func(*Feed)

// WithBatchSize sets the most commits per handler call (default 100).
func WithBatchSize(n int) FeedOption {
	return func(f *Feed) {
		if n > 0 {
			f.batch = n
		}
	}
}

// WithFallbackPoll sets how often an idle feed re-reads the log even
// without a wake-up (default 5s).
func WithFallbackPoll(d time.Duration) FeedOption {
	return func(f *Feed) {
		if d > 0 {
			f.poll = d
		}
	}
}

// WithRetryBackoff bounds the delay before redelivering a batch the handler
// failed (default 50ms, doubling up to 5s).
func WithRetryBackoff(minDelay, maxDelay time.Duration) FeedOption {
	return func(f *Feed) {
		if minDelay > 0 && maxDelay >= minDelay {
			f.minBackoff, f.maxBackoff = minDelay, maxDelay
		}
	}
}

// NewFeed returns the feed of consumer (e.g. "projector"); its cursor is
// stored under that name, so each consumer sees every commit.
func NewFeed(s *Store, consumer string, opts ...FeedOption) (*Feed, error) {
	if consumer == "" {
		return nil, errors.New("event feed: empty consumer name")
	}
	f := &Feed{store: s, consumer: consumer, batch: 100, poll: 5 * time.Second,
		minBackoff: 50 * time.Millisecond, maxBackoff: 5 * time.Second, log: s.log}
	for _, o := range opts {
		o(f)
	}
	f.log = f.log.With("consumer", consumer)
	return f, nil
}

// ErrConsumerBusy is returned by Run when the consumer already runs in this
// process: two runners would deliver the same commits concurrently and
// break per-aggregate order.
var ErrConsumerBusy = errors.New("consumer already running")

// Run implements eventstore.Feed. It returns ctx.Err() on cancellation, or
// an error if the store is closed or its log cannot be read.
func (f *Feed) Run(ctx context.Context, h eventstore.Handler) error {
	if err := f.store.claim(f.consumer); err != nil {
		return err
	}
	defer f.store.release(f.consumer)

	cursor, err := f.cursor()
	if err != nil {
		return err
	}
	backoff := time.Duration(0)
	for {
		// Take the wake-up channel before reading, so an append landing
		// between the read and the wait still wakes us.
		wake := f.store.changes()
		if f.store.isClosed() {
			return fmt.Errorf("event feed %s: %w", f.consumer, bolterrors.ErrDatabaseNotOpen)
		}
		commits, last, err := f.read(cursor)
		if err != nil {
			return fmt.Errorf("event feed %s: %w", f.consumer, err)
		}
		if len(commits) == 0 {
			if err := f.wait(ctx, wake, f.poll); err != nil {
				return err
			}
			continue
		}
		if err := h(ctx, commits); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			backoff = min(max(2*backoff, f.minBackoff), f.maxBackoff)
			f.log.WarnContext(ctx, "handler failed; redelivering", "after", cursor, "commits", len(commits),
				"retry_in", backoff, "err", err)
			if err := f.wait(ctx, nil, backoff); err != nil {
				return err
			}
			continue
		}
		backoff = 0
		if err := f.advance(last); err != nil {
			return fmt.Errorf("event feed %s: %w", f.consumer, err)
		}
		cursor = last
	}
}

// wait blocks until wake closes, d passes, or ctx ends.
func (f *Feed) wait(ctx context.Context, wake <-chan struct{}, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-wake:
		return nil
	case <-t.C:
		return nil
	}
}

func (f *Feed) cursor() (int64, error) {
	var seq int64
	err := f.store.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketCursors).Get([]byte(f.consumer)); v != nil {
			seq = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("event feed %s: read cursor: %w", f.consumer, err)
	}
	return seq, nil
}

// read returns up to batch commits after sequence after, and the sequence
// of the last one.
func (f *Feed) read(after int64) ([]eventstore.Commit, int64, error) {
	var (
		commits []eventstore.Commit
		last    = after
	)
	err := f.store.db.View(func(tx *bbolt.Tx) error {
		all := tx.Bucket(bucketCommits)
		c := tx.Bucket(bucketLog).Cursor()
		for k, v := c.Seek(be64(after + 1)); k != nil && len(commits) < f.batch; k, v = c.Next() {
			if len(v) <= layout.SKLen {
				return fmt.Errorf("log entry %x: malformed", k)
			}
			sk, id := v[:layout.SKLen], v[layout.SKLen:]
			agg := all.Bucket(id)
			if agg == nil {
				return fmt.Errorf("log entry %x: no commits of %s", k, id)
			}
			val := agg.Get(sk)
			if val == nil {
				return fmt.Errorf("log entry %x: no commit %s/%s", k, id, sk)
			}
			commit, err := decodeCommit(string(id), sk, val)
			if err != nil {
				return err
			}
			commits = append(commits, commit)
			last = int64(binary.BigEndian.Uint64(k))
		}
		return nil
	})
	return commits, last, err
}

// advance persists the cursor. It never moves it backwards.
func (f *Feed) advance(seq int64) error {
	return f.store.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketCursors)
		if v := b.Get([]byte(f.consumer)); v != nil && int64(binary.BigEndian.Uint64(v)) >= seq {
			return nil
		}
		return b.Put([]byte(f.consumer), be64(seq))
	})
}

func (s *Store) claim(consumer string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[consumer] {
		return fmt.Errorf("event feed %s: %w", consumer, ErrConsumerBusy)
	}
	s.running[consumer] = true
	return nil
}

func (s *Store) release(consumer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, consumer)
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
