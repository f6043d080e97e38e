package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
)

// Aggregate is what the Repository needs of a domain aggregate. Domain
// aggregates satisfy it by embedding event.Root and adding the four
// state methods.
type Aggregate interface {
	AggregateID() string
	Version() int64
	Begin(event.Meta)
	Pending() []event.Event
	MarkCommitted()
	// ReplayEvent applies one stored event (decode, apply, advance version).
	ReplayEvent(event.Event) error
	// SnapshotState serializes the state with its schema number.
	SnapshotState() (schema int, state json.RawMessage, err error)
	// RestoreSnapshot loads state saved by SnapshotState. It returns
	// ErrSnapshotSchema for a schema it no longer reads.
	RestoreSnapshot(schema int, version int64, state json.RawMessage) error
}

// ErrSnapshotSchema tells the Repository to ignore a snapshot and replay.
// It is event.ErrSnapshotSchema, so domain aggregates can return it without
// importing this package.
var ErrSnapshotSchema = event.ErrSnapshotSchema

// Repository loads and updates aggregates of one type through a Store.
type Repository[A Aggregate] struct {
	store         Store
	newAggregate  func(id string) A
	snapshotEvery int64
	maxAttempts   int
	clock         func() time.Time
	log           *slog.Logger
}

// Option configures a Repository.
type Option func(*repoOptions)

type repoOptions struct {
	snapshotEvery int64
	maxAttempts   int
	clock         func() time.Time
	log           *slog.Logger
}

// WithSnapshotEvery sets how many events pass between snapshots (default 50).
func WithSnapshotEvery(n int) Option { return func(o *repoOptions) { o.snapshotEvery = int64(n) } }

// WithMaxAttempts bounds the load-decide-append attempts on conflict (default 8).
func WithMaxAttempts(n int) Option { return func(o *repoOptions) { o.maxAttempts = n } }

// WithClock sets the clock used to stamp commands (tests).
func WithClock(c func() time.Time) Option { return func(o *repoOptions) { o.clock = c } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *repoOptions) { o.log = l } }

// NewRepository returns a Repository creating empty aggregates with newAggregate.
func NewRepository[A Aggregate](store Store, newAggregate func(id string) A, opts ...Option) *Repository[A] {
	o := repoOptions{snapshotEvery: 50, maxAttempts: 8, clock: time.Now, log: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	if o.snapshotEvery < 1 {
		o.snapshotEvery = 50
	}
	if o.maxAttempts < 1 {
		o.maxAttempts = 1
	}
	return &Repository[A]{store: store, newAggregate: newAggregate, snapshotEvery: o.snapshotEvery,
		maxAttempts: o.maxAttempts, clock: o.clock, log: o.log}
}

// Load rebuilds an aggregate from its snapshot and the events after it.
//
// A version gap in what the store returned (a torn read: seen under load on
// the DynamoDB emulator, and possible on any store that is not strictly
// read-after-write) is retried a few times before it is reported.
func (r *Repository[A]) Load(ctx context.Context, id string) (A, error) {
	var a A
	var err error
	for attempt := 1; ; attempt++ {
		a, err = r.load(ctx, id)
		if !errors.Is(err, event.ErrVersionGap) || attempt >= 3 {
			return a, err
		}
		r.log.WarnContext(ctx, "torn read of an aggregate's history, reading again", "aggregate", id, "err", err)
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return a, err
		}
	}
}

func (r *Repository[A]) load(ctx context.Context, id string) (A, error) {
	a := r.newAggregate(id)
	snap, events, err := r.store.Load(ctx, id)
	if err != nil {
		return a, err
	}
	if snap != nil {
		err := a.RestoreSnapshot(snap.Schema, snap.Version, snap.State)
		switch {
		case errors.Is(err, ErrSnapshotSchema):
			// The snapshot predates the current state schema: replay all.
			return r.replayAll(ctx, id)
		case err != nil:
			return a, fmt.Errorf("restore snapshot of %s: %w", id, err)
		}
	}
	for _, e := range events {
		if err := a.ReplayEvent(e); err != nil {
			return a, fmt.Errorf("load %s: %w", id, err)
		}
	}
	return a, nil
}

func (r *Repository[A]) replayAll(ctx context.Context, id string) (A, error) {
	a := r.newAggregate(id)
	cursor := ""
	for {
		page, err := r.store.History(ctx, id, cursor, 1000)
		if err != nil {
			return a, err
		}
		for _, e := range page.Events {
			if err := a.ReplayEvent(e); err != nil {
				return a, fmt.Errorf("load %s: %w", id, err)
			}
		}
		if page.Next == "" {
			return a, nil
		}
		cursor = page.Next
	}
}

// Create runs decide on a new, empty aggregate and appends its events at
// expected version 0. ErrConflict if the id already exists.
func (r *Repository[A]) Create(ctx context.Context, id string, decide func(A) error) (A, error) {
	a := r.newAggregate(id)
	a.Begin(event.MetaFrom(ctx, r.clock().UTC()))
	if err := decide(a); err != nil {
		return a, err
	}
	if err := r.commit(ctx, a, 0); err != nil {
		return a, err
	}
	return a, nil
}

// Update loads the aggregate, lets decide record events, and appends them
// with the loaded version. On a version conflict it reloads and decides
// again, up to the configured attempts with jittered backoff, then returns
// an error wrapping ErrConflict. An error from decide is returned as is and
// nothing is written. A decide that records nothing writes nothing.
func (r *Repository[A]) Update(ctx context.Context, id string, decide func(A) error) (A, error) {
	meta := event.MetaFrom(ctx, r.clock().UTC())
	var zero A
	for attempt := 1; ; attempt++ {
		a, err := r.Load(ctx, id)
		if err != nil {
			return zero, err
		}
		loaded := a.Version()
		// Stamp the command with the clock of this attempt so a retried
		// decision sees the time it is actually made at.
		m := meta
		if attempt > 1 {
			m.Time = r.clock().UTC()
		}
		a.Begin(m)
		if err := decide(a); err != nil {
			return a, err
		}
		err = r.commit(ctx, a, loaded)
		if err == nil {
			return a, nil
		}
		if !errors.Is(err, ErrConflict) || attempt >= r.maxAttempts {
			if errors.Is(err, ErrConflict) {
				return a, fmt.Errorf("update %s: %d attempts: %w", id, attempt, err)
			}
			return a, err
		}
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return a, err
		}
	}
}

func (r *Repository[A]) commit(ctx context.Context, a A, expected int64) error {
	pending := a.Pending()
	if len(pending) == 0 {
		return nil
	}
	if err := r.store.Append(ctx, expected, pending); err != nil {
		return err
	}
	a.MarkCommitted()
	// Snapshot when this commit crossed a multiple of snapshotEvery. A failed
	// snapshot only costs a longer load later, so it is logged, not returned.
	if expected/r.snapshotEvery != a.Version()/r.snapshotEvery {
		schema, state, err := a.SnapshotState()
		if err == nil {
			err = r.store.SaveSnapshot(ctx, Snapshot{AggregateID: a.AggregateID(), Version: a.Version(),
				Schema: schema, State: state, Time: r.clock().UTC()})
		}
		if err != nil {
			r.log.WarnContext(ctx, "snapshot failed", "aggregate", a.AggregateID(), "version", a.Version(), "err", err)
		}
	}
	return nil
}

// backoff is a full-jitter exponential delay: up to 5ms·2^attempt, capped.
func backoff(attempt int) time.Duration {
	ceiling := 5 * time.Millisecond << min(attempt, 6)
	return time.Duration(rand.Int64N(int64(ceiling)) + int64(time.Millisecond))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
