// Package projector turns committed events into read models and integration
// events. The same Handle method is driven by DynamoDB Stream batches in
// production (lambdas/projector) and by the embedded store's change feed
// locally.
//
// Order safety: for each aggregate a batch touches, the projector rebuilds
// the aggregate at its latest version from the event store (snapshot + tail,
// at most two reads) and writes its view under the read model's version
// guard. So a duplicate, a replay or an out-of-order batch writes the same
// latest view, or nothing, and the read models converge byte for byte. The
// audit history (activity) is keyed by aggregate and version, so its writes
// are idempotent too.
package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/readmodel"
)

// Projection writes the read-model rows of one aggregate type from the
// aggregate's latest state.
type Projection interface {
	Project(ctx context.Context, aggregateID string) error
}

// ProjectionFunc adapts a function to Projection.
type ProjectionFunc func(ctx context.Context, aggregateID string) error

// Project implements Projection.
func (f ProjectionFunc) Project(ctx context.Context, id string) error { return f(ctx, id) }

// Publisher sends domain events on as integration events.
type Publisher interface {
	Publish(ctx context.Context, events []event.Event) error
}

// Projector dispatches commits to projections by aggregate type.
type Projector struct {
	projections map[string]Projection
	activity    readmodel.Store
	publisher   Publisher
	log         *slog.Logger
}

// New returns a Projector. projections maps aggregate types ("worker",
// "lab", …) to their projection; events of other types only reach the
// activity history and the publisher. publisher may be nil.
func New(projections map[string]Projection, activity readmodel.Store, publisher Publisher, log *slog.Logger) *Projector {
	if log == nil {
		log = slog.Default()
	}
	return &Projector{projections: projections, activity: activity, publisher: publisher, log: log}
}

// AggregateError says which aggregate of a batch failed, so the Lambda can
// report a partial batch failure from the first record of that aggregate.
type AggregateError struct {
	AggregateID string
	Err         error
}

func (e *AggregateError) Error() string {
	return fmt.Sprintf("project %s: %v", e.AggregateID, e.Err)
}

func (e *AggregateError) Unwrap() error { return e.Err }

// Handle projects a batch of commits. It returns nil only when every commit
// is fully projected and published; otherwise the errors (one
// *AggregateError per failed aggregate, joined) so the caller redelivers.
// One aggregate's failure does not stop the others.
func (p *Projector) Handle(ctx context.Context, commits []eventstore.Commit) error {
	var order []string
	byAggregate := map[string][]eventstore.Commit{}
	for _, c := range commits {
		if _, seen := byAggregate[c.AggregateID]; !seen {
			order = append(order, c.AggregateID)
		}
		byAggregate[c.AggregateID] = append(byAggregate[c.AggregateID], c)
	}
	var errs []error
	for _, id := range order {
		if err := p.handleAggregate(ctx, byAggregate[id]); err != nil {
			errs = append(errs, &AggregateError{AggregateID: id, Err: err})
		}
	}
	return errors.Join(errs...)
}

// handleAggregate writes the latest view once, then the activity rows and
// integration events of each commit (idempotent per event, or deduplicated
// downstream by event id).
func (p *Projector) handleAggregate(ctx context.Context, commits []eventstore.Commit) error {
	if err := p.projectAggregate(ctx, commits[0]); err != nil {
		return err
	}
	for _, c := range commits {
		if err := p.recordCommit(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func (p *Projector) projectAggregate(ctx context.Context, c eventstore.Commit) error {
	proj, ok := p.projections[c.AggregateType]
	if !ok {
		return nil
	}
	return proj.Project(ctx, c.AggregateID)
}

func (p *Projector) recordCommit(ctx context.Context, c eventstore.Commit) error {
	for _, e := range c.Events {
		doc, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("encode %s v%d: %w", e.Type, e.Version, err)
		}
		if err := p.activity.PutActivity(ctx, readmodel.Activity{AggregateID: e.AggregateID, Version: e.Version,
			Type: e.Type, Time: e.Time, Actor: e.Actor, Doc: doc}); err != nil {
			return err
		}
	}
	if p.publisher != nil {
		if err := p.publisher.Publish(ctx, c.Events); err != nil {
			return fmt.Errorf("publish: %w", err)
		}
	}
	return nil
}
