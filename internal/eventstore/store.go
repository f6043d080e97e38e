// Package eventstore defines the event store contract shared by the DynamoDB
// and embedded (bbolt) adapters, and the command helper (Repository) that
// loads an aggregate, lets it decide, and appends its events with optimistic
// concurrency.
//
// Storage model (both adapters): one item per command ("commit") keyed by
// aggregate id and the version of the commit's first event, written only if
// that key does not exist yet. Because expected versions only ever come from
// a Load (a commit boundary), two commits can never overlap: a stale writer's
// key is always taken. A snapshot of the aggregate's state is kept beside its
// commits, so loading costs one snapshot read plus one read of the tail.
package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
)

// Typed errors callers branch on.
var (
	// ErrConflict means the expected version was stale: someone else appended.
	ErrConflict = errors.New("version conflict")
	// ErrNotFound means the aggregate has no events.
	ErrNotFound = errors.New("aggregate not found")
	// ErrInvalid means the append request itself is malformed (no events,
	// versions not contiguous, events of several aggregates).
	ErrInvalid = errors.New("invalid append")
)

// Commit is what one command appended: one or more events of one aggregate,
// with contiguous versions.
type Commit struct {
	AggregateID   string        `json:"aggregateId"`
	AggregateType string        `json:"aggregateType"`
	Events        []event.Event `json:"events"`
	// CommittedAt is when the store accepted the commit (its clock, not the
	// command's). Feeds fill it so consumers can measure their lag.
	CommittedAt time.Time `json:"committedAt,omitzero"`
}

// FirstVersion is the version of the commit's first event (its sort key).
func (c Commit) FirstVersion() int64 {
	if len(c.Events) == 0 {
		return 0
	}
	return c.Events[0].Version
}

// LastVersion is the aggregate's version after this commit.
func (c Commit) LastVersion() int64 {
	if len(c.Events) == 0 {
		return 0
	}
	return c.Events[len(c.Events)-1].Version
}

// Snapshot is an aggregate's serialized state at Version. Schema is the
// aggregate's own state schema number: a snapshot written by an older
// schema is ignored and the aggregate is rebuilt from its events.
type Snapshot struct {
	AggregateID string          `json:"aggregateId"`
	Version     int64           `json:"version"`
	Schema      int             `json:"schema"`
	State       json.RawMessage `json:"state"`
	Time        time.Time       `json:"time"`
}

// Page is one page of an aggregate's history, oldest first. Next is empty on
// the last page; otherwise pass it back as the cursor.
type Page struct {
	Events []event.Event
	Next   string
}

// Store is the event store contract. Both adapters pass the same contract
// test suite (internal/eventstore/storetest).
type Store interface {
	// Append writes events (all of one aggregate, versions expected+1…) as
	// one commit. It returns ErrConflict if expected is stale: of several
	// writers appending at the same expected version exactly one succeeds.
	// expected must be a version Load returned (a commit boundary); the
	// DynamoDB adapter relies on that rather than reading the head first.
	Append(ctx context.Context, expected int64, events []event.Event) error
	// Load returns the latest snapshot (nil if none) and the events after it,
	// oldest first. ErrNotFound if the aggregate has no events.
	Load(ctx context.Context, aggregateID string) (*Snapshot, []event.Event, error)
	// SaveSnapshot stores s unless a snapshot at the same or a higher
	// version exists (then it does nothing and returns nil). s.Version must
	// be a commit boundary, as Repository guarantees: Load reads the tail
	// from the commit starting at s.Version+1.
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// History returns up to limit events after the cursor, oldest first
	// (limit < 1 means 100). Pages hold exactly limit events except the
	// last, whose Next is empty; a cursor is opaque and can be read again.
	// ErrNotFound for an aggregate without events, ErrInvalid for a
	// cursor the store did not issue.
	History(ctx context.Context, aggregateID, cursor string, limit int) (Page, error)
}

// Handler consumes commits from a change feed. Returning an error means
// "not processed": the feed delivers the same commits again (at least once).
type Handler func(ctx context.Context, commits []Commit) error

// Feed is a store's change feed: every commit, in commit order per
// aggregate, delivered at least once.
type Feed interface {
	// Run delivers commits to h until ctx ends, resuming after the last
	// batch h accepted. It returns ctx.Err() on cancellation.
	Run(ctx context.Context, h Handler) error
}

// ValidateAppend checks an append request; adapters call it first.
func ValidateAppend(expected int64, events []event.Event) error {
	if len(events) == 0 {
		return errors.Join(ErrInvalid, errors.New("no events"))
	}
	if expected < 0 {
		return errors.Join(ErrInvalid, errors.New("negative expected version"))
	}
	id := events[0].AggregateID
	if id == "" {
		return errors.Join(ErrInvalid, errors.New("empty aggregate id"))
	}
	for i, e := range events {
		if e.AggregateID != id {
			return errors.Join(ErrInvalid, errors.New("events of several aggregates in one commit"))
		}
		if e.Version != expected+int64(i)+1 {
			return errors.Join(ErrInvalid, errors.New("event versions must follow the expected version contiguously"))
		}
	}
	return nil
}
