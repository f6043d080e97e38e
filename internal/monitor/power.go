package monitor

import (
	"context"
	"fmt"

	"github.com/cmlcm/cmlcm/internal/worker"
)

// powerCloud is what DirectPower calls.
type powerCloud interface {
	Start(ctx context.Context, region, instanceID string) error
	Stop(ctx context.Context, region, instanceID string) error
}

// DirectPower records the request on the worker and calls EC2 when the
// aggregate says so (a stop from running, a start from stopped). It is
// what the fleet service's Start/Stop do; the local server can pass the
// fleet service instead once it exists (same semantics).
type DirectPower struct {
	workers Workers
	cloud   powerCloud
}

// NewDirectPower returns a Power over the repository and the cloud.
func NewDirectPower(workers Workers, cloud powerCloud) *DirectPower {
	return &DirectPower{workers: workers, cloud: cloud}
}

// Start resumes a worker (auto: a scheduled wake-up).
func (p *DirectPower) Start(ctx context.Context, id, reason string, auto bool) error {
	var from worker.Status
	w, err := p.workers.Update(ctx, id, func(w *worker.Worker) error {
		from = w.Status()
		return w.RequestStart(reason, auto)
	})
	if err != nil {
		return err
	}
	if from == worker.StatusStopped {
		if err := p.cloud.Start(ctx, w.Region(), w.InstanceID()); err != nil {
			return fmt.Errorf("start %s: %w", w.InstanceID(), err)
		}
	}
	return nil
}

// Stop pauses a worker.
func (p *DirectPower) Stop(ctx context.Context, id, reason string, auto bool) error {
	return p.stop(ctx, id, func(w *worker.Worker) error { return w.RequestStop(reason, auto) })
}

// AutoPause pauses an idle worker (counted as automatic, with the idle
// minutes; the aggregate re-checks the idleness).
func (p *DirectPower) AutoPause(ctx context.Context, id string, idleMinutes int) error {
	return p.stop(ctx, id, func(w *worker.Worker) error { return w.AutoPause(idleMinutes) })
}

func (p *DirectPower) stop(ctx context.Context, id string, decide func(*worker.Worker) error) error {
	var from worker.Status
	w, err := p.workers.Update(ctx, id, func(w *worker.Worker) error {
		from = w.Status()
		return decide(w)
	})
	if err != nil {
		return err
	}
	if from == worker.StatusRunning {
		if err := p.cloud.Stop(ctx, w.Region(), w.InstanceID()); err != nil {
			return fmt.Errorf("stop %s: %w", w.InstanceID(), err)
		}
	}
	return nil
}
