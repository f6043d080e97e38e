// Package ec2events handles EC2 "Instance State-change Notification"
// events: EventBridge delivers them to lambdas/ec2events in production, and
// the sandbox emits the same events locally, which the local server feeds
// to the same Handler.
package ec2events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// Actor is who observations from EC2 notifications are recorded as.
var Actor = event.SystemActor("ec2-events")

// InstanceIndex finds the worker owning an instance (readmodel.Store).
type InstanceIndex interface {
	WorkerByInstance(ctx context.Context, instanceID string) (readmodel.Worker, error)
}

// Workers updates worker aggregates (*eventstore.Repository[*worker.Worker]).
type Workers interface {
	Update(ctx context.Context, id string, decide func(*worker.Worker) error) (*worker.Worker, error)
}

// Result says what a delivery did, for logs and tests.
type Result string

// Results.
const (
	Recorded  Result = "recorded"  // the observation was appended
	Unchanged Result = "unchanged" // older, duplicate or no change: nothing appended
	Unmanaged Result = "unmanaged" // no worker owns the instance
	Ignored   Result = "ignored"   // not a state-change event
)

// Handler appends EC2 observations to the owning worker.
type Handler struct {
	index   InstanceIndex
	workers Workers
	log     *slog.Logger
}

// New returns a handler.
func New(index InstanceIndex, workers Workers, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.Default()
	}
	return &Handler{index: index, workers: workers, log: log.With("component", "ec2events")}
}

// Handle processes one delivery. Ordering is by EC2's event time (the
// worker ignores an observation older than the last one applied), so
// replayed and out-of-order deliveries are harmless. An error is returned
// only for what a retry can fix (store unavailable), so EventBridge
// retries it; malformed events and unmanaged instances are dropped.
func (h *Handler) Handle(ctx context.Context, e events.CloudWatchEvent) (Result, error) {
	sc, err := cloud.ParseStateChange(e)
	if err != nil {
		h.log.WarnContext(ctx, "not an EC2 state change", "id", e.ID, "detailType", e.DetailType, "err", err)
		return Ignored, nil
	}
	log := h.log.With("correlationId", sc.ID, "instance", sc.InstanceID, "state", sc.State, "actor", Actor)
	row, err := h.index.WorkerByInstance(ctx, sc.InstanceID)
	if errors.Is(err, readmodel.ErrNotFound) {
		log.DebugContext(ctx, "instance not managed by the fleet")
		return Unmanaged, nil
	}
	if err != nil {
		return "", fmt.Errorf("find the worker of %s: %w", sc.InstanceID, err)
	}
	log = log.With("worker", row.ID)
	ctx = event.WithMeta(ctx, event.Meta{Actor: Actor, CorrelationID: sc.ID})
	before := int64(-1)
	w, err := h.workers.Update(ctx, row.ID, func(w *worker.Worker) error {
		before = w.Version()
		if w.InstanceID() != sc.InstanceID {
			// The index is behind (instance replaced) or the instance is not
			// the worker's: not ours to record.
			return errNotOwner
		}
		return w.ObserveEC2(worker.EC2Observation{InstanceID: sc.InstanceID, State: worker.EC2State(sc.State),
			ObservedAt: sc.Time})
	})
	switch {
	case errors.Is(err, errNotOwner), errors.Is(err, worker.ErrNoInstance), errors.Is(err, worker.ErrInvalid),
		errors.Is(err, worker.ErrNotCreated):
		log.InfoContext(ctx, "state change not recorded", "reason", err)
		return Unchanged, nil
	case err != nil:
		return "", fmt.Errorf("record %s of %s on worker %s: %w", sc.State, sc.InstanceID, row.ID, err)
	case w.Version() == before:
		return Unchanged, nil
	}
	log.InfoContext(ctx, "EC2 state recorded", "status", w.Status())
	return Recorded, nil
}

var errNotOwner = errors.New("instance is not the worker's")
