package event

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Root is embedded by aggregates. It holds the identity and version, the
// Meta of the command being decided, and the events recorded by that command
// and not yet committed. The aggregate's own apply function is the only code
// that changes its state: Root.Record calls it for new events and Replay for
// stored ones.
type Root struct {
	aggType string
	id      string
	version int64
	meta    Meta
	pending []Event
}

// Init sets the aggregate type and id. Call it from the aggregate constructor.
func (r *Root) Init(aggType, id string) { r.aggType, r.id = aggType, id }

// AggregateType returns the aggregate's type, e.g. "worker".
func (r *Root) AggregateType() string { return r.aggType }

// AggregateID returns the aggregate's id.
func (r *Root) AggregateID() string { return r.id }

// Version is the version of the last event applied (committed or pending).
func (r *Root) Version() int64 { return r.version }

// SetVersion is used when restoring from a snapshot.
func (r *Root) SetVersion(v int64) { r.version = v }

// Begin starts a command: events recorded until the next Begin carry m.
func (r *Root) Begin(m Meta) {
	if m.Time.IsZero() {
		m.Time = time.Now().UTC()
	}
	r.meta = m
}

// Now is the time of the command being decided.
func (r *Root) Now() time.Time {
	if r.meta.Time.IsZero() {
		return time.Now().UTC()
	}
	return r.meta.Time
}

// Actor is the actor of the command being decided.
func (r *Root) Actor() string { return r.meta.Actor }

// Pending returns the events recorded since the last MarkCommitted.
func (r *Root) Pending() []Event { return r.pending }

// MarkCommitted forgets the pending events once the store has them.
func (r *Root) MarkCommitted() { r.pending = nil }

// Record wraps p in an envelope with the next version and the command's
// Meta, applies it through apply, and keeps it as pending.
func (r *Root) Record(p Payload, apply func(Event, Payload)) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("record %s: %w", p.EventType(), err)
	}
	e := Event{
		ID:            uuid.Must(uuid.NewV7()).String(),
		Type:          p.EventType(),
		AggregateType: r.aggType,
		AggregateID:   r.id,
		Version:       r.version + 1,
		Time:          r.Now().UTC(),
		Actor:         r.meta.Actor,
		CorrelationID: r.meta.CorrelationID,
		SchemaVersion: SchemaVersion,
		Data:          data,
	}
	apply(e, p)
	r.version = e.Version
	r.pending = append(r.pending, e)
	return nil
}

// Replay applies a stored event through apply after decoding it with reg.
func (r *Root) Replay(e Event, reg Registry, apply func(Event, Payload)) error {
	if e.Version != r.version+1 {
		return fmt.Errorf("replay %s of %s: version %d after %d: %w", e.Type, r.id, e.Version, r.version, ErrVersionGap)
	}
	p, err := reg.Decode(e)
	if err != nil {
		return err
	}
	apply(e, p)
	r.version = e.Version
	return nil
}

// ErrVersionGap means events were replayed out of order or with a hole.
var ErrVersionGap = fmt.Errorf("event version gap")

// ErrSnapshotSchema is returned by an aggregate's RestoreSnapshot for a
// state schema it no longer reads; the repository then replays the history.
// It lives here, not in eventstore, so domain packages can return it without
// importing a store package (eventstore.ErrSnapshotSchema is this value).
var ErrSnapshotSchema = errors.New("snapshot schema not supported")
