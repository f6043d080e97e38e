package monitor

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cmlcm/cmlcm/internal/cml"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// checkIdle records the activity found since the last check and applies
// the idle policy: a warning first, then the auto-pause.
//
// Activity is CML telemetry in the activity categories from non-system
// users (cml.ActivityFilter defaults), CPU above the policy's threshold
// when it has one, and — recorded by the API, not here — lab operations
// through our own API and "keep running" requests.
func (m *Monitor) checkIdle(ctx context.Context, log *slog.Logger, v settings.Values, due []tracked, cpu map[string]float64, now time.Time, cnt *counters) {
	each(ctx, m.o.Concurrency, due, func(ctx context.Context, t tracked) {
		cnt.add(func(r *Report) { r.IdleChecked++ })
		ictx := m.with(ctx, ActorIdle)
		if t.view.Endpoint != "" && t.view.CML.Ready {
			cctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
			evs, err := m.o.CML(t.view.Endpoint).TelemetryEvents(cctx, &cml.ActivityFilter{})
			cancel()
			if err != nil {
				log.Warn("telemetry events", "worker", t.row.ID, "err", err)
			} else if n := len(evs); n > 0 && !evs[n-1].Time.IsZero() {
				if _, err := m.o.Workers.Update(ictx, t.row.ID, func(w *worker.Worker) error {
					return w.RecordActivity(evs[n-1].Time, "cml:"+evs[n-1].Category)
				}); err != nil {
					log.Warn("record activity", "worker", t.row.ID, "err", err)
				}
			}
		}
		policy := v.IdlePolicy
		if t.view.Idle.Policy != nil {
			policy = *t.view.Idle.Policy
		}
		if th := policy.CPUThresholdPercent; th != nil {
			if c, ok := cpu[t.row.ID]; ok && c > *th {
				if _, err := m.o.Workers.Update(ictx, t.row.ID, func(w *worker.Worker) error {
					return w.RecordActivity(now, "cpu")
				}); err != nil {
					log.Warn("record CPU activity", "worker", t.row.ID, "err", err)
				}
			}
		}
		var decision worker.IdleState
		_, err := m.o.Workers.Update(ictx, t.row.ID, func(w *worker.Worker) error {
			decision = w.IdleState(now, v.IdlePolicy)
			if decision.Action == worker.IdleWarn {
				return w.IssueIdleWarning(decision.IdleSince, decision.PauseAt)
			}
			return nil
		})
		if err != nil {
			log.Warn("idle warning", "worker", t.row.ID, "err", err)
			return
		}
		switch decision.Action {
		case worker.IdleWarn:
			cnt.add(func(r *Report) { r.Warnings++ })
			log.Info("idle warning", "worker", t.row.ID, "idleSince", decision.IdleSince, "pauseAt", decision.PauseAt)
		case worker.IdlePause:
			minutes := max(int(decision.IdleFor/time.Minute), 1)
			err := m.o.Power.AutoPause(ictx, t.row.ID, minutes)
			switch {
			case errors.Is(err, worker.ErrNotIdle), errors.Is(err, worker.ErrIdleDisabled), errors.Is(err, worker.ErrAlreadyInState):
				log.Info("auto-pause skipped", "worker", t.row.ID, "reason", err)
			case err != nil:
				log.Warn("auto-pause failed", "worker", t.row.ID, "err", err)
				cnt.add(func(r *Report) { r.Errors++ })
			default:
				cnt.add(func(r *Report) { r.Pauses++ })
				log.Info("auto-paused", "worker", t.row.ID, "idleMinutes", minutes, "actor", ActorIdle)
			}
		}
	})
}

// wakeUps starts stopped workers whose schedule has a wake-up in (prev, now].
func (m *Monitor) wakeUps(ctx context.Context, log *slog.Logger, all []tracked, prev, now time.Time, cnt *counters) {
	for _, t := range all {
		sch := t.view.Schedule
		if sch == nil || t.view.DesiredPower != worker.PowerStopped {
			continue
		}
		if t.view.Status != worker.StatusStopped && t.view.Status != worker.StatusStopping {
			continue
		}
		if !sch.Due(prev, now) {
			continue
		}
		err := m.o.Power.Start(m.with(ctx, ActorSchedule), t.row.ID, "scheduled wake-up", true)
		if err != nil && !errors.Is(err, worker.ErrAlreadyInState) {
			log.Warn("wake-up failed", "worker", t.row.ID, "err", err)
			cnt.add(func(r *Report) { r.Errors++ })
			continue
		}
		cnt.add(func(r *Report) { r.Wakeups++ })
		log.Info("scheduled wake-up", "worker", t.row.ID, "actor", ActorSchedule)
	}
}

// pollLicenses advances the licence jobs in progress (production has no
// long-lived process: the API starts the job, the tick finishes it).
func (m *Monitor) pollLicenses(ctx context.Context, log *slog.Logger, all []tracked, cnt *counters) {
	if m.o.License == nil {
		return
	}
	for _, t := range all {
		if t.view.CML.LicenseOperation != worker.LicenseRegistering {
			continue
		}
		if _, err := m.o.License.Poll(ctx, t.row.ID); err != nil {
			log.Warn("licence poll", "worker", t.row.ID, "err", err)
		}
		cnt.add(func(r *Report) { r.LicensePolled++ })
	}
}

// Savings are the hours and dollars the last auto-pause saved: from the
// pause to the next start (or now while still stopped), at the instance
// type's hourly price.
func Savings(v worker.View, prices map[string]float64, now time.Time) (hours, dollars float64) {
	a := v.Activity
	if !a.LastPauseAuto || a.LastPausedAt == nil {
		return 0, 0
	}
	end := now
	if a.LastResumedAt != nil && a.LastResumedAt.After(*a.LastPausedAt) {
		end = *a.LastResumedAt
	}
	hours = max(end.Sub(*a.LastPausedAt).Hours(), 0)
	return hours, hours * prices[v.InstanceType]
}
