// Package bolt is the embedded event store: the same keys and semantics as
// the DynamoDB adapter, in one bbolt file, with an in-process change feed.
//
// Buckets (prefixed "es_" so the file can be shared with the read models):
//
//	es_commits    aggregate id → nested bucket: SK(first version) → commit
//	es_heads      aggregate id → last version (8 bytes, big endian)
//	es_snapshots  aggregate id → snapshot (JSON)
//	es_log        sequence (8 bytes BE, bucket sequence) → SK + aggregate id
//	es_cursors    consumer name → last sequence its handler accepted
//
// Append runs in one write transaction: it checks the head strictly (stale
// or ahead expected versions are both ErrConflict), writes the commit, moves
// the head and appends to the log, so the log order is the commit order.
package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/eventstore/internal/layout"
)

var (
	bucketCommits   = []byte("es_commits")
	bucketHeads     = []byte("es_heads")
	bucketSnapshots = []byte("es_snapshots")
	bucketLog       = []byte("es_log")
	bucketCursors   = []byte("es_cursors")
)

// Store is the embedded event store. It is safe for concurrent use: bbolt
// serializes write transactions and runs read transactions in parallel.
type Store struct {
	db    *bbolt.DB
	owned bool // opened by Open, closed by Close
	clock func() time.Time
	log   *slog.Logger

	mu      sync.Mutex
	changed chan struct{}   // closed and replaced after every append
	running map[string]bool // consumers with a Run in progress
	closed  bool
}

var _ eventstore.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock stamping CommittedAt (tests).
func WithClock(c func() time.Time) Option { return func(s *Store) { s.clock = c } }

// WithLogger sets the logger of the store and its feeds.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// Open opens (creating if needed) the bbolt file at path and returns a Store
// that owns it: Close closes the file. A second process opening the same
// file fails after a second rather than waiting forever on the file lock.
func Open(path string, opts ...Option) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("event store: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		return nil, fmt.Errorf("event store: open %s: %w", path, err)
	}
	s, err := New(db, opts...)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.owned = true
	return s, nil
}

// New returns a Store on db, creating its buckets. The caller keeps
// ownership of db (it may hold read-model buckets too) and closes it after
// calling Close.
func New(db *bbolt.DB, opts ...Option) (*Store, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketCommits, bucketHeads, bucketSnapshots, bucketLog, bucketCursors} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("event store buckets: %w", err)
	}
	s := &Store{db: db, clock: time.Now, log: slog.Default(), changed: make(chan struct{}), running: map[string]bool{}}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// DB returns the underlying database, for stores sharing the file.
func (s *Store) DB() *bbolt.DB { return s.db }

// Close wakes running feeds (they return an error) and closes the file if
// Open opened it.
func (s *Store) Close() error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.changed)
		s.changed = make(chan struct{})
	}
	s.mu.Unlock()
	if s.owned {
		return s.db.Close()
	}
	return nil
}

// commitRecord is the stored value of a commit. Events is the same JSON
// array the DynamoDB adapter stores in its "events" attribute.
type commitRecord struct {
	AggregateType string          `json:"aggregateType"`
	FirstVersion  int64           `json:"firstVersion"`
	LastVersion   int64           `json:"lastVersion"`
	CommittedAt   time.Time       `json:"committedAt"`
	Events        json.RawMessage `json:"events"`
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, expected int64, events []event.Event) error {
	if err := eventstore.ValidateAppend(expected, events); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	id := events[0].AggregateID
	payload, err := layout.EncodeEvents(events)
	if err != nil {
		return err
	}
	last := expected + int64(len(events))
	sk := layout.SK(expected + 1)
	rec, err := json.Marshal(commitRecord{AggregateType: events[0].AggregateType, FirstVersion: expected + 1,
		LastVersion: last, CommittedAt: s.clock().UTC(), Events: json.RawMessage(payload)})
	if err != nil {
		return fmt.Errorf("append %s: %w", id, err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		heads := tx.Bucket(bucketHeads)
		var head int64
		if v := heads.Get([]byte(id)); v != nil {
			head = int64(binary.BigEndian.Uint64(v))
		}
		if head != expected {
			return fmt.Errorf("append %s at version %d: head is %d: %w", id, expected, head, eventstore.ErrConflict)
		}
		agg, err := tx.Bucket(bucketCommits).CreateBucketIfNotExists([]byte(id))
		if err != nil {
			return err
		}
		if err := agg.Put([]byte(sk), rec); err != nil {
			return err
		}
		if err := heads.Put([]byte(id), be64(last)); err != nil {
			return err
		}
		logb := tx.Bucket(bucketLog)
		seq, err := logb.NextSequence()
		if err != nil {
			return err
		}
		return logb.Put(be64(int64(seq)), []byte(sk+id))
	})
	if err != nil {
		if errors.Is(err, eventstore.ErrConflict) {
			return err
		}
		return fmt.Errorf("append %s: %w", id, err)
	}
	s.notify()
	return nil
}

// Load implements eventstore.Store: the snapshot and the tail after it, in
// one read transaction.
func (s *Store) Load(ctx context.Context, aggregateID string) (*eventstore.Snapshot, []event.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	var (
		snap   *eventstore.Snapshot
		events []event.Event
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketSnapshots).Get([]byte(aggregateID)); v != nil {
			snap = new(eventstore.Snapshot)
			if err := json.Unmarshal(v, snap); err != nil {
				return fmt.Errorf("decode snapshot: %w", err)
			}
		}
		agg := tx.Bucket(bucketCommits).Bucket([]byte(aggregateID))
		switch {
		case agg == nil && snap == nil:
			return eventstore.ErrNotFound
		case agg == nil:
			return nil // a snapshot saved for an aggregate with no commits: as DynamoDB would return it
		}
		after := int64(0)
		if snap != nil {
			after = snap.Version
		}
		c := agg.Cursor()
		for k, v := c.Seek([]byte(layout.SK(after + 1))); k != nil; k, v = c.Next() {
			commit, err := decodeCommit(aggregateID, k, v)
			if err != nil {
				return err
			}
			events = append(events, commit.Events...)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("load %s: %w", aggregateID, err)
	}
	return snap, events, nil
}

// SaveSnapshot implements eventstore.Store. An older or equal snapshot
// leaves the stored one in place and is not an error: two writers racing to
// snapshot the same aggregate are both fine.
func (s *Store) SaveSnapshot(ctx context.Context, snap eventstore.Snapshot) error {
	if snap.AggregateID == "" || snap.Version < 1 {
		return errors.Join(eventstore.ErrInvalid, errors.New("snapshot needs an aggregate id and a version"))
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if snap.Time.IsZero() {
		snap.Time = s.clock()
	}
	snap.Time = snap.Time.UTC()
	doc, err := json.Marshal(snap)
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", snap.AggregateID, err)
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketSnapshots)
		if v := b.Get([]byte(snap.AggregateID)); v != nil {
			var old struct {
				Version int64 `json:"version"`
			}
			if err := json.Unmarshal(v, &old); err == nil && old.Version >= snap.Version {
				return nil
			}
		}
		return b.Put([]byte(snap.AggregateID), doc)
	})
	if err != nil {
		return fmt.Errorf("snapshot %s: %w", snap.AggregateID, err)
	}
	return nil
}

// History implements eventstore.Store with the shared cursor and paging of
// internal/layout: exactly limit events per page, a commit split across
// pages when needed, no event lost or repeated.
func (s *Store) History(ctx context.Context, aggregateID, cursor string, limit int) (eventstore.Page, error) {
	cur, err := layout.DecodeCursor(cursor)
	if err != nil {
		return eventstore.Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.Page{}, err
	}
	var page eventstore.Page
	err = s.db.View(func(tx *bbolt.Tx) error {
		agg := tx.Bucket(bucketCommits).Bucket([]byte(aggregateID))
		if agg == nil {
			if cursor == "" {
				return eventstore.ErrNotFound
			}
			return nil
		}
		c := agg.Cursor()
		k, v := c.Seek([]byte(cur.SK))
		page, err = layout.BuildPage(cur, layout.PageSize(limit), func() (layout.Stored, bool, error) {
			if k == nil {
				return layout.Stored{}, false, nil
			}
			commit, err := decodeCommit(aggregateID, k, v)
			if err != nil {
				return layout.Stored{}, false, err
			}
			st := layout.Stored{SK: string(k), Events: commit.Events}
			k, v = c.Next()
			return st, true, nil
		})
		return err
	})
	if err != nil {
		return eventstore.Page{}, fmt.Errorf("history %s: %w", aggregateID, err)
	}
	return page, nil
}

func decodeCommit(aggregateID string, k, v []byte) (eventstore.Commit, error) {
	var rec commitRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return eventstore.Commit{}, fmt.Errorf("commit %s/%s: %w", aggregateID, k, err)
	}
	c, err := layout.DecodeCommit(aggregateID, rec.AggregateType, string(k), string(rec.Events))
	if err != nil {
		return eventstore.Commit{}, err
	}
	c.CommittedAt = rec.CommittedAt
	return c, nil
}

// notify wakes every feed waiting for appends.
func (s *Store) notify() {
	s.mu.Lock()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// changes returns a channel closed at the next append (or Close).
func (s *Store) changes() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

func be64(v int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	return b[:]
}
