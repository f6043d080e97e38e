// Package event defines the envelope every domain event travels in and the
// small recording machinery aggregates embed. It is pure Go: domain packages
// import it, and so do the stores, so neither depends on the other.
package event

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// SchemaVersion is the version of the envelope itself. Payload versions live
// in the event type name (e.g. "cml.worker.paused.v1").
const SchemaVersion = 1

// Event is one committed (or about to be committed) domain event.
type Event struct {
	ID            string          `json:"id"`
	Type          string          `json:"type"`
	AggregateType string          `json:"aggregateType"`
	AggregateID   string          `json:"aggregateId"`
	Version       int64           `json:"version"`
	Time          time.Time       `json:"time"`
	Actor         string          `json:"actor"`
	CorrelationID string          `json:"correlationId"`
	SchemaVersion int             `json:"schemaVersion"`
	Data          json.RawMessage `json:"data"`
}

// Payload is the body of a domain event. EventType returns its dotted,
// versioned type name, e.g. "cml.worker.paused.v1".
type Payload interface {
	EventType() string
}

// Meta is who caused a command, why, and when. The command layer stamps it on
// every event the command records.
type Meta struct {
	Actor         string    // a user name, or "system:<job>"
	CorrelationID string    // request id or workflow execution id
	Time          time.Time // the command's clock; zero means time.Now()
}

// SystemActor names a background job as an actor.
func SystemActor(job string) string { return "system:" + job }

// IsSystemActor reports whether actor is a background job rather than a person.
func IsSystemActor(actor string) bool { return strings.HasPrefix(actor, "system:") }

type metaKey struct{}

// WithMeta returns a context carrying m for the command layer to stamp.
func WithMeta(ctx context.Context, m Meta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// MetaFrom returns the Meta carried by ctx, with its time set to now when
// unset and its actor "system:unknown" when unset, so no event is anonymous.
func MetaFrom(ctx context.Context, now time.Time) Meta {
	m, _ := ctx.Value(metaKey{}).(Meta)
	if m.Time.IsZero() {
		m.Time = now
	}
	if m.Actor == "" {
		m.Actor = SystemActor("unknown")
	}
	if m.CorrelationID == "" {
		m.CorrelationID = uuid.NewString()
	}
	return m
}

// ErrUnknownType is returned when a stored event's type has no decoder.
var ErrUnknownType = errors.New("unknown event type")

// Registry maps event type names to constructors of their payloads, so stored
// events can be decoded back into typed payloads.
type Registry map[string]func() Payload

// Register adds the payload's type to the registry.
func (r Registry) Register(newFn func() Payload) {
	r[newFn().EventType()] = newFn
}

// Decode turns an envelope's data into its typed payload.
func (r Registry) Decode(e Event) (Payload, error) {
	newFn, ok := r[e.Type]
	if !ok {
		return nil, fmt.Errorf("decode %s v%d of %s: %w", e.Type, e.Version, e.AggregateID, ErrUnknownType)
	}
	p := newFn()
	if err := json.Unmarshal(e.Data, p); err != nil {
		return nil, fmt.Errorf("decode %s v%d of %s: %w", e.Type, e.Version, e.AggregateID, err)
	}
	return p, nil
}

// Types lists the registered type names.
func (r Registry) Types() []string {
	out := make([]string, 0, len(r))
	for t := range r {
		out = append(out, t)
	}
	return out
}
