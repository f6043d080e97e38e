package provision

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
)

// Runner executes the workflow in-process with the semantics the state
// machine has: the steps in order, a poll step called again after its wait
// until done, transient errors retried with backoff, any other error (or
// retries exhausted, or the overall timeout) caught by the compensation.
type Runner struct {
	tasks *Tasks
	spec  Workflow
	log   *slog.Logger

	base   context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewRunner returns a runner of spec over tasks.
func NewRunner(tasks *Tasks, spec Workflow, log *slog.Logger) *Runner {
	if log == nil {
		log = slog.Default()
	}
	base, cancel := context.WithCancel(context.Background())
	return &Runner{tasks: tasks, spec: spec, log: log.With("component", "provision-runner"), base: base, cancel: cancel}
}

// StartProvisioning runs the workflow for a created worker in the
// background (the fleet service's Provisioner). It returns at once.
func (r *Runner) StartProvisioning(ctx context.Context, workerID string) error {
	return r.start(ctx, State{WorkerID: workerID}, StepValidate)
}

// StartImport runs the workflow for an imported worker from wait-running:
// the instance exists; the workflow waits for it to run and for CML, and
// never terminates it.
func (r *Runner) StartImport(ctx context.Context, workerID string) error {
	return r.start(ctx, State{WorkerID: workerID, Imported: true}, r.spec.ImportStartsAt)
}

func (r *Runner) start(ctx context.Context, st State, from string) error {
	if err := r.base.Err(); err != nil {
		return fmt.Errorf("provision runner closed: %w", err)
	}
	st.CorrelationID = event.MetaFrom(ctx, time.Now()).CorrelationID
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		// The workflow outlives the request that started it, but not the
		// runner.
		ctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		defer stop()
		go func() {
			select {
			case <-r.base.Done():
				stop()
			case <-ctx.Done():
			}
		}()
		if _, err := r.RunFrom(ctx, st, from); err != nil {
			r.log.Warn("provisioning failed", "worker", st.WorkerID, "correlationId", st.CorrelationID, "err", err)
		}
	}()
	return nil
}

// Wait blocks until every workflow started in the background ended.
func (r *Runner) Wait() { r.wg.Wait() }

// Close cancels running workflows (their compensation still runs) and waits.
func (r *Runner) Close() {
	r.cancel()
	r.wg.Wait()
}

// Run executes the whole workflow synchronously.
func (r *Runner) Run(ctx context.Context, st State) (State, error) {
	return r.RunFrom(ctx, st, r.spec.Steps[0].Name)
}

// RunFrom executes the workflow from the named step. The returned error is
// the failure the compensation handled (nil on success).
func (r *Runner) RunFrom(ctx context.Context, st State, from string) (State, error) {
	total := r.spec.TotalTimeout
	if st.Timeouts.Total > 0 && st.Timeouts.Total < total {
		total = st.Timeouts.Total
	}
	runCtx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	started := false
	for _, step := range r.spec.Steps {
		if step.Name == from {
			started = true
		}
		if !started {
			continue
		}
		out, err := r.step(runCtx, step, st)
		if err == nil && step.Name == StepValidate && out.Timeouts.Total > 0 && out.Timeouts.Total < total {
			// The settings' total timeout is known now; it may be shorter.
			var c2 context.CancelFunc
			runCtx, c2 = context.WithTimeout(runCtx, out.Timeouts.Total)
			defer c2()
		}
		if err != nil {
			if runCtx.Err() != nil && ctx.Err() == nil {
				err = &StepTimeout{Step: step.Name, Timeout: total, Last: "the workflow's total timeout passed"}
			}
			out.Error = &Failure{Step: step.Name, Message: err.Error(), Error: errorName(err)}
			return r.compensate(ctx, out, err)
		}
		st = out
	}
	if !started {
		return st, fmt.Errorf("provision: no step %q", from)
	}
	r.log.Info("provisioning completed", "worker", st.WorkerID, "correlationId", st.CorrelationID,
		"elapsed", time.Since(st.StartedAt).Round(time.Millisecond).String())
	return st, nil
}

// step runs one step to completion: retries and polls.
func (r *Runner) step(ctx context.Context, s Step, st State) (State, error) {
	attempt := 1
	for {
		out, err := r.tasks.Run(ctx, s.Task, st)
		switch {
		case err != nil && IsTransient(err) && attempt < s.Retry.MaxAttempts && ctx.Err() == nil:
			if serr := sleep(ctx, s.Retry.Delay(attempt)); serr != nil {
				return out, err
			}
			attempt++
			st = out
			continue
		case err != nil:
			return out, err
		case !s.Poll || out.Done:
			out.Done = false
			return out, nil
		}
		wait := out.Wait
		if wait <= 0 {
			wait = s.PollInterval
		}
		if err := sleep(ctx, wait); err != nil {
			return out, err
		}
		st, attempt = out, 1
	}
}

func (r *Runner) compensate(ctx context.Context, st State, cause error) (State, error) {
	c := r.spec.Compensation
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.Timeout)
	defer cancel()
	for attempt := 1; ; attempt++ {
		out, err := r.tasks.Run(cctx, c.Task, st)
		if err == nil {
			return out, cause
		}
		if attempt >= c.Retry.MaxAttempts || cctx.Err() != nil {
			r.log.Error("compensation failed: the instance may still run", "worker", st.WorkerID,
				"instance", st.InstanceID, "correlationId", st.CorrelationID, "err", err)
			return out, errors.Join(cause, fmt.Errorf("compensation: %w", err))
		}
		if sleep(cctx, c.Retry.Delay(attempt)) != nil {
			return out, errors.Join(cause, fmt.Errorf("compensation: %w", err))
		}
	}
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
