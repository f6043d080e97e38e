package monitor

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/cml"
	"github.com/cmlcm/cmlcm/internal/provision"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// collect describes the due workers (one batched Describe and one batched
// Metrics per region), records what EC2 says and reconciles, then calls
// each running worker's CML with bounded concurrency. It returns the CPU
// readings by worker for the idle check.
func (m *Monitor) collect(ctx context.Context, log *slog.Logger, v settings.Values, due []tracked, now time.Time, cnt *counters) map[string]float64 {
	cpu := map[string]float64{}
	if len(due) == 0 {
		return cpu
	}
	byRegion := map[string][]tracked{}
	for _, t := range due {
		byRegion[t.view.Region] = append(byRegion[t.view.Region], t)
	}
	wall := time.Now()
	var cmlDue []tracked
	samples := map[string]cloud.MetricSample{}
	for region, ts := range byRegion {
		ids := make([]string, len(ts))
		for i, t := range ts {
			ids[i] = t.view.InstanceID
		}
		insts, err := m.o.Cloud.Describe(ctx, region, ids)
		if err != nil {
			log.Error("describe failed", "region", region, "instances", len(ids), "err", err)
			cnt.add(func(r *Report) { r.Errors++ })
			continue
		}
		found := make(map[string]cloud.Instance, len(insts))
		var running []string
		for _, in := range insts {
			found[in.ID] = in
			if in.State == cloud.StateRunning {
				running = append(running, in.ID)
			}
		}
		cnt.add(func(r *Report) { r.Described += len(insts) })
		if len(running) > 0 {
			ms, err := m.o.Cloud.Metrics(ctx, region, running, wall.Add(-10*time.Minute), wall)
			if err != nil {
				log.Warn("metrics failed", "region", region, "err", err)
			}
			for id, s := range ms {
				samples[id] = s
			}
		}
		for _, t := range ts {
			in, ok := found[t.view.InstanceID]
			w, err := m.observe(ctx, t, in, ok, wall)
			if err != nil {
				log.Warn("record EC2 observation", "worker", t.row.ID, "err", err)
				cnt.add(func(r *Report) { r.Errors++ })
				continue
			}
			m.reconcile(ctx, log, w, cnt)
			if ok && in.State == cloud.StateRunning && w.Status() == worker.StatusRunning {
				t.view = w.View()
				cmlDue = append(cmlDue, t)
			}
		}
	}
	ttl := time.Duration(v.TelemetryRetentionDays) * 24 * time.Hour
	results := make(chan [2]any, len(cmlDue))
	each(ctx, m.o.Concurrency, cmlDue, func(ctx context.Context, t tracked) {
		s := Sample{WorkerID: t.row.ID, At: wall.UTC(), ExpiresAt: wall.Add(ttl).UTC(), Source: "cloudwatch"}
		if ms, ok := samples[t.view.InstanceID]; ok {
			if ms.HasCPU() {
				s.CPUPercent = ptr(ms.CPUPercent)
				results <- [2]any{t.row.ID, ms.CPUPercent}
			}
			if ms.HasMemory() {
				s.MemoryPercent = ptr(ms.MemoryPercent)
			}
		}
		m.collectCML(ctx, log, t, &s, cnt)
		if m.o.Telemetry != nil {
			if err := m.o.Telemetry.Put(ctx, s); err != nil {
				log.Warn("telemetry put", "worker", t.row.ID, "err", err)
			}
		}
		cnt.add(func(r *Report) { r.MetricsCollected++ })
	})
	close(results)
	for r := range results {
		cpu[r[0].(string)] = r[1].(float64)
	}
	return cpu
}

func ptr[T any](v T) *T { return &v }

// observe records a describe result (or the instance's absence).
func (m *Monitor) observe(ctx context.Context, t tracked, in cloud.Instance, found bool, at time.Time) (*worker.Worker, error) {
	ctx = m.with(ctx, ActorReconcile)
	return m.o.Workers.Update(ctx, t.row.ID, func(w *worker.Worker) error {
		if w.InstanceID() == "" {
			return nil
		}
		if !found {
			// EC2 forgets terminated instances after about an hour.
			return w.ObserveEC2(worker.EC2Observation{InstanceID: w.InstanceID(), State: worker.EC2Terminated,
				ObservedAt: at.UTC().Truncate(time.Second), Reason: "the instance no longer exists in EC2"})
		}
		return w.ObserveEC2(provision.Observation(in, at))
	})
}

// reconcile acts on drift between the desired power and EC2. A deferred
// request of ours (a stop asked while pending, a start while stopping) is
// carried out now; a change nobody asked for here is recorded as an
// external change (the desired power follows EC2) — never undone silently.
func (m *Monitor) reconcile(ctx context.Context, log *slog.Logger, w *worker.Worker, cnt *counters) {
	d := w.Drift()
	if !d.Drifting {
		return
	}
	id := w.AggregateID()
	op, _ := w.LastPowerRequest()
	log = log.With("worker", id, "desired", d.Desired, "observed", d.Observed)
	var err error
	switch {
	case d.Desired == worker.PowerTerminated:
		// Our termination did not take (or was lost): ask again.
		err = m.o.Cloud.Terminate(ctx, w.Region(), w.InstanceID())
		log.Info("reconcile: terminating again")
	case d.Desired == worker.PowerRunning && d.Observed == worker.StatusStopped && op == "stop":
		// A start was asked while it was stopping: start it now.
		err = m.o.Power.Start(m.with(ctx, ActorReconcile), id, "deferred start", false)
		log.Info("reconcile: deferred start")
	case d.Desired == worker.PowerStopped && d.Observed == worker.StatusRunning && op == "start":
		err = m.o.Power.Stop(m.with(ctx, ActorReconcile), id, "deferred stop", false)
		log.Info("reconcile: deferred stop")
	default:
		note := "instance " + strings.ReplaceAll(string(d.EC2State), "-", " ") + " outside the product (was desired " + string(d.Desired) + ")"
		_, err = m.o.Workers.Update(m.with(ctx, ActorReconcile), id, func(w *worker.Worker) error {
			return w.RecordExternalChange(note)
		})
		if err == nil {
			cnt.add(func(r *Report) { r.ExternalChanges++ })
			log.Warn("reconcile: external change recorded", "note", note)
		}
	}
	if err != nil && !errors.Is(err, worker.ErrAlreadyInState) {
		log.Warn("reconcile failed", "err", err)
		cnt.add(func(r *Report) { r.Errors++ })
		return
	}
	cnt.add(func(r *Report) { r.Reconciled++ })
}

// collectCML reads system information, stats and licensing; the first
// failure marks CML unreachable and skips the rest, so a dead CML costs
// one call timeout.
func (m *Monitor) collectCML(ctx context.Context, log *slog.Logger, t tracked, s *Sample, cnt *counters) {
	if t.view.Endpoint == "" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, m.o.WorkerTimeout)
	defer cancel()
	c := m.o.CML(t.view.Endpoint)
	obs := worker.CMLObservation{ObservedAt: time.Now().UTC(), ServiceStatus: worker.ServiceUnavailable}
	err := func() error {
		call := func(fn func(context.Context) error) error {
			cctx, cancel := context.WithTimeout(ctx, m.o.CallTimeout)
			defer cancel()
			return fn(cctx)
		}
		var si cml.SystemInformation
		if err := call(func(ctx context.Context) (err error) { si, err = c.SystemInformation(ctx); return }); err != nil {
			return err
		}
		obs.ServiceStatus, obs.Ready, obs.Version = worker.ServiceAvailable, si.Ready, si.Version
		if !si.Ready {
			obs.ServiceStatus = worker.ServiceStarting
			return nil
		}
		var st cml.SystemStats
		if err := call(func(ctx context.Context) (err error) { st, err = c.SystemStats(ctx); return }); err != nil {
			return err
		}
		u := st.Summary()
		s.DiskPercent, s.RunningNodes, s.TotalNodes = ptr(u.DiskPercent), ptr(u.RunningNodes), ptr(u.TotalNodes)
		if s.CPUPercent == nil {
			s.CPUPercent = ptr(u.CPUPercent)
		}
		if s.MemoryPercent == nil {
			s.MemoryPercent = ptr(u.MemoryPercent)
		}
		var lic cml.LicensingStatus
		if err := call(func(ctx context.Context) (err error) { lic, err = c.Licensing(ctx); return }); err != nil {
			return err
		}
		obs.LicenseStatus = LicenseStatus(lic)
		return nil
	}()
	s.CMLReachable = err == nil
	if err == nil {
		s.Source = "cloudwatch+cml"
	} else {
		cnt.add(func(r *Report) { r.CMLErrors++ })
		log.Warn("CML unreachable", "worker", t.row.ID, "endpoint", t.view.Endpoint, "err", err)
		if errors.Is(err, cml.ErrUnauthorized) {
			obs.ServiceStatus = worker.ServiceError
		}
	}
	// Only changes become events (ObserveCML records nothing otherwise).
	if _, uerr := m.o.Workers.Update(m.with(ctx, ActorMonitor), t.row.ID, func(w *worker.Worker) error {
		return w.ObserveCML(obs)
	}); uerr != nil {
		log.Warn("record CML observation", "worker", t.row.ID, "err", uerr)
	}
}

// LicenseStatus maps CML's licensing status to the worker's.
func LicenseStatus(l cml.LicensingStatus) worker.LicenseStatus {
	switch {
	case l.Registration.Status == cml.RegistrationCompleted:
		return worker.LicenseRegistered
	case strings.Contains(strings.ToUpper(l.Authorization.Status), "EXPIRED"):
		return worker.LicenseExpired
	case strings.HasPrefix(strings.ToUpper(l.Authorization.Status), "EVAL"):
		return worker.LicenseEvaluation
	}
	return worker.LicenseUnregistered
}
