// Package dynamo is the DynamoDB event store, on guregu/dynamo over
// aws-sdk-go-v2, with a change feed read from the table's DynamoDB Stream.
//
// Table layout (the CDK creates the production table; CreateTables makes
// the same one for tests and local runs):
//
//	pk (S, hash)   aggregate id
//	sk (S, range)  commits: version of the commit's first event, zero-padded
//	               to 20 digits; the snapshot: "snapshot", which sorts after
//	               every digit string, so version ranges never reach it
//
// A commit item holds aggregateType, firstVersion, lastVersion, the events
// as one JSON array string ("events") and committedAt (RFC 3339, the
// store's clock). A snapshot item holds version, schema, state (JSON string)
// and time. The stream must carry NEW_IMAGE (or NEW_AND_OLD_IMAGES).
//
// Append is a conditional put on attribute_not_exists(sk): two commits can
// never share a first version, so of two writers at the same expected
// version exactly one wins and the other gets ErrConflict. Unlike the bbolt
// adapter it does not read the head first (that would cost a read per
// write): an expected version that is not the head of a commit boundary —
// something only a caller bypassing Load can produce — is not detected.
// eventstore.Repository only appends at versions it loaded.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/guregu/dynamo/v2"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/eventstore/internal/layout"
)

// DefaultTimeout bounds each store operation's AWS calls (a Load is two
// calls, each with its own deadline). The SDK retryer handles throttling
// within it.
const DefaultTimeout = 10 * time.Second

// commitItem is one commit. Attribute names are part of the stream contract
// (CommitsFromStreamRecords reads them from stream images).
type commitItem struct {
	PK            string `dynamo:"pk,hash"`
	SK            string `dynamo:"sk,range"`
	AggregateType string `dynamo:"aggregateType"`
	FirstVersion  int64  `dynamo:"firstVersion"`
	LastVersion   int64  `dynamo:"lastVersion"`
	Events        string `dynamo:"events"`
	CommittedAt   string `dynamo:"committedAt"`
}

type snapshotItem struct {
	PK      string `dynamo:"pk,hash"`
	SK      string `dynamo:"sk,range"`
	Version int64  `dynamo:"version"`
	Schema  int    `dynamo:"schema"`
	State   string `dynamo:"state"`
	Time    string `dynamo:"time"`
}

// Store is the DynamoDB event store. It is safe for concurrent use.
type Store struct {
	db      *dynamo.DB
	table   dynamo.Table
	timeout time.Duration
	clock   func() time.Time
}

var _ eventstore.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithTimeout sets the deadline of each AWS call (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(s *Store) {
		if d > 0 {
			s.timeout = d
		}
	}
}

// WithClock sets the clock stamping committedAt (tests).
func WithClock(c func() time.Time) Option { return func(s *Store) { s.clock = c } }

// New returns a Store on the events table named table.
func New(db *dynamo.DB, table string, opts ...Option) *Store {
	s := &Store{db: db, table: db.Table(table), timeout: DefaultTimeout, clock: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Table returns the events table name.
func (s *Store) Table() string { return s.table.Name() }

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, expected int64, events []event.Event) error {
	if err := eventstore.ValidateAppend(expected, events); err != nil {
		return err
	}
	payload, err := layout.EncodeEvents(events)
	if err != nil {
		return err
	}
	id := events[0].AggregateID
	item := commitItem{
		PK:            id,
		SK:            layout.SK(expected + 1),
		AggregateType: events[0].AggregateType,
		FirstVersion:  expected + 1,
		LastVersion:   expected + int64(len(events)),
		Events:        payload,
		CommittedAt:   s.clock().UTC().Format(time.RFC3339Nano),
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err = s.table.Put(item).If("attribute_not_exists($)", "sk").Run(ctx)
	switch {
	case dynamo.IsCondCheckFailed(err):
		return fmt.Errorf("append %s at version %d: %w", id, expected, eventstore.ErrConflict)
	case err != nil:
		return fmt.Errorf("append %s at version %d: %w", id, expected, err)
	}
	return nil
}

// Load implements eventstore.Store: GetItem of the snapshot, then one
// (paginated) Query of the commits after it, both strongly consistent. The
// snapshot is read first: commits are only ever added, so a tail read after
// it can miss nothing between the two.
func (s *Store) Load(ctx context.Context, aggregateID string) (*eventstore.Snapshot, []event.Event, error) {
	snap, err := s.snapshot(ctx, aggregateID)
	if err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", aggregateID, err)
	}
	after := int64(0)
	if snap != nil {
		after = snap.Version
	}
	var items []commitItem
	qctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err = s.table.Get("pk", aggregateID).
		Range("sk", dynamo.Between, layout.SK(after+1), layout.MaxSK).
		Consistent(true).
		All(qctx, &items)
	if err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", aggregateID, err)
	}
	if snap == nil && len(items) == 0 {
		return nil, nil, fmt.Errorf("load %s: %w", aggregateID, eventstore.ErrNotFound)
	}
	var events []event.Event
	for _, it := range items {
		c, err := it.commit()
		if err != nil {
			return nil, nil, fmt.Errorf("load %s: %w", aggregateID, err)
		}
		events = append(events, c.Events...)
	}
	return snap, events, nil
}

func (s *Store) snapshot(ctx context.Context, aggregateID string) (*eventstore.Snapshot, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	var it snapshotItem
	err := s.table.Get("pk", aggregateID).Range("sk", dynamo.Equal, layout.SnapshotSK).Consistent(true).One(ctx, &it)
	switch {
	case errors.Is(err, dynamo.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, it.Time)
	if err != nil {
		return nil, fmt.Errorf("snapshot time %q: %w", it.Time, err)
	}
	return &eventstore.Snapshot{AggregateID: aggregateID, Version: it.Version, Schema: it.Schema,
		State: []byte(it.State), Time: t}, nil
}

// SaveSnapshot implements eventstore.Store with a put conditioned on "no
// snapshot, or an older one": a slower writer never replaces a newer
// snapshot, and losing that race is not an error.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if snap.AggregateID == "" || snap.Version < 1 {
		return errors.Join(eventstore.ErrInvalid, errors.New("snapshot needs an aggregate id and a version"))
	}
	if snap.Time.IsZero() {
		snap.Time = s.clock()
	}
	item := snapshotItem{PK: snap.AggregateID, SK: layout.SnapshotSK, Version: snap.Version, Schema: snap.Schema,
		State: string(snap.State), Time: snap.Time.UTC().Format(time.RFC3339Nano)}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.table.Put(item).If("attribute_not_exists($) OR $ < ?", "sk", "version", snap.Version).Run(ctx)
	switch {
	case dynamo.IsCondCheckFailed(err):
		return nil
	case err != nil:
		return fmt.Errorf("snapshot %s v%d: %w", snap.AggregateID, snap.Version, err)
	}
	return nil
}

// History implements eventstore.Store with the shared cursor and paging of
// internal/layout (exactly limit events per page; a multi-event commit may
// be split, the cursor remembering the commit key and the last version
// delivered). It queries at most limit+1 items per request: a page needs at
// most limit commits plus one to know whether another page exists.
func (s *Store) History(ctx context.Context, aggregateID, cursor string, limit int) (eventstore.Page, error) {
	cur, err := layout.DecodeCursor(cursor)
	if err != nil {
		return eventstore.Page{}, err
	}
	limit = layout.PageSize(limit)
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	r := &commitReader{table: s.table, id: aggregateID, from: cur.SK, batch: limit + 1}
	read := 0
	page, err := layout.BuildPage(cur, limit, func() (layout.Stored, bool, error) {
		it, ok, err := r.next(ctx)
		if !ok || err != nil {
			return layout.Stored{}, false, err
		}
		read++
		c, err := it.commit()
		if err != nil {
			return layout.Stored{}, false, err
		}
		return layout.Stored{SK: it.SK, Events: c.Events}, true, nil
	})
	if err != nil {
		return eventstore.Page{}, fmt.Errorf("history %s: %w", aggregateID, err)
	}
	if read == 0 && cursor == "" {
		return eventstore.Page{}, fmt.Errorf("history %s: %w", aggregateID, eventstore.ErrNotFound)
	}
	return page, nil
}

// commitReader reads an aggregate's commit items in key order from a sort
// key on, lazily, batch items per request, so a history page reads what it
// needs rather than a 1 MB page of a long history.
type commitReader struct {
	table dynamo.Table
	id    string
	from  string
	batch int

	it   dynamo.PagingIter
	lek  dynamo.PagingKey
	done bool
}

func (r *commitReader) next(ctx context.Context) (commitItem, bool, error) {
	for !r.done {
		if r.it == nil {
			q := r.table.Get("pk", r.id).Range("sk", dynamo.Between, r.from, layout.MaxSK).
				Consistent(true).SearchLimit(r.batch)
			if r.lek != nil {
				q = q.StartFrom(r.lek)
			}
			r.it = q.Iter()
		}
		var it commitItem
		if r.it.Next(ctx, &it) {
			return it, true, nil
		}
		if err := r.it.Err(); err != nil {
			return commitItem{}, false, err
		}
		lek, err := r.it.LastEvaluatedKey(ctx)
		if err != nil {
			return commitItem{}, false, err
		}
		r.it, r.lek, r.done = nil, lek, len(lek) == 0
	}
	return commitItem{}, false, nil
}

func (it commitItem) commit() (eventstore.Commit, error) {
	c, err := layout.DecodeCommit(it.PK, it.AggregateType, it.SK, it.Events)
	if err != nil {
		return eventstore.Commit{}, err
	}
	if it.CommittedAt != "" {
		if c.CommittedAt, err = time.Parse(time.RFC3339Nano, it.CommittedAt); err != nil {
			return eventstore.Commit{}, fmt.Errorf("commit %s/%s: committedAt: %w", it.PK, it.SK, err)
		}
	}
	return c, nil
}

// StreamARN returns the events table's latest stream ARN, for NewFeed.
func (s *Store) StreamARN(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	desc, err := s.table.Describe().Run(ctx)
	if err != nil {
		return "", fmt.Errorf("describe %s: %w", s.table.Name(), err)
	}
	if !desc.StreamEnabled || desc.LatestStreamARN == "" {
		return "", fmt.Errorf("table %s has no stream", s.table.Name())
	}
	return desc.LatestStreamARN, nil
}

// CreateTables creates the events table as production has it (on-demand,
// stream NEW_IMAGE) for tests and local runs, and waits until it is active.
// An existing table is left as it is.
func CreateTables(ctx context.Context, db *dynamo.DB, eventsTable string) error {
	err := db.CreateTable(eventsTable, commitItem{}).
		OnDemand(true).
		Stream(dynamo.NewImageView).
		Run(ctx)
	var inUse *types.ResourceInUseException
	if err != nil && !errors.As(err, &inUse) {
		return fmt.Errorf("create table %s: %w", eventsTable, err)
	}
	if err := db.Table(eventsTable).Wait(ctx); err != nil {
		return fmt.Errorf("wait for table %s: %w", eventsTable, err)
	}
	return nil
}
