package storetest

import (
	"encoding/json"
	"fmt"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
)

// CounterType is the aggregate type of Counter.
const CounterType = "test.counter"

// Incremented is Counter's only event. Total is the counter's value after
// the increment, decided from the state the command saw: if a stale
// decision were ever committed, two events would carry the same Total and
// Counter.Broken would say so.
type Incremented struct {
	Token string `json:"token,omitempty"`
	Total int    `json:"total"`
}

// EventType implements event.Payload.
func (*Incremented) EventType() string { return "test.counter.incremented.v1" }

var counterEvents = event.Registry{}

func init() { counterEvents.Register(func() event.Payload { return new(Incremented) }) }

// Counter is the small aggregate the contract suite and the benchmarks use:
// a total, and the tokens of the commands that incremented it, in order.
// Its state does not grow with history when commands carry no token, so
// its load time measures the store, not the aggregate.
type Counter struct {
	event.Root
	counterState
}

type counterState struct {
	Total  int      `json:"total"`
	Tokens []string `json:"tokens,omitempty"`
	// Broken records the first event that did not follow from the state
	// before it (a lost update), empty when history is sound.
	Broken string `json:"broken,omitempty"`
}

var _ eventstore.Aggregate = (*Counter)(nil)

// NewCounter returns an empty counter with the given id.
func NewCounter(id string) *Counter {
	c := &Counter{}
	c.Init(CounterType, id)
	return c
}

// Increment records one increment; token names the command (may be empty).
func (c *Counter) Increment(token string) error {
	return c.Record(&Incremented{Token: token, Total: c.Total + 1}, c.apply)
}

// Add records n increments in one command (a multi-event commit).
func (c *Counter) Add(n int, token string) error {
	for range n {
		if err := c.Increment(token); err != nil {
			return err
		}
	}
	return nil
}

func (c *Counter) apply(e event.Event, p event.Payload) {
	switch p := p.(type) {
	case *Incremented:
		if p.Total != c.Total+1 && c.Broken == "" {
			c.Broken = fmt.Sprintf("v%d sets total %d after %d", e.Version, p.Total, c.Total)
		}
		c.Total = p.Total
		if p.Token != "" {
			c.Tokens = append(c.Tokens, p.Token)
		}
	}
}

// ReplayEvent implements eventstore.Aggregate.
func (c *Counter) ReplayEvent(e event.Event) error { return c.Replay(e, counterEvents, c.apply) }

// SnapshotState implements eventstore.Aggregate.
func (c *Counter) SnapshotState() (int, json.RawMessage, error) {
	b, err := json.Marshal(c.counterState)
	return 1, b, err
}

// RestoreSnapshot implements eventstore.Aggregate.
func (c *Counter) RestoreSnapshot(schema int, version int64, state json.RawMessage) error {
	if schema != 1 {
		return eventstore.ErrSnapshotSchema
	}
	var s counterState
	if err := json.Unmarshal(state, &s); err != nil {
		return fmt.Errorf("counter snapshot: %w", err)
	}
	c.counterState = s
	c.SetVersion(version)
	return nil
}
