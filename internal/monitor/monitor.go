// Package monitor is the fleet's automation: the tick that, from the
// fleet settings and each worker's state, decides what is due — metrics
// collection (with reconcile), lab refresh, idle checks and auto-pause,
// scheduled wake-ups, licence job polling, discovery and orphan reports —
// and the licence jobs. In production an EventBridge schedule invokes
// lambdas/tick every minute; locally a Ticker calls the same Tick.
//
// The tick keeps no state between runs: a job with interval I is due for a
// worker when a point k·I + offset(worker) falls in (previous tick, this
// tick], the offset spreading workers over the interval. Intervals are
// read from the settings on every tick, so a change applies on the next
// one. A missed tick skips that round rather than piling up work.
package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/cml"
	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/lab"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// Actors of the automation's events.
var (
	ActorMonitor   = event.SystemActor("monitor")
	ActorIdle      = event.SystemActor("idle")
	ActorReconcile = event.SystemActor("reconcile")
	ActorLabs      = event.SystemActor("labs")
	ActorSchedule  = event.SystemActor("schedule")
	ActorLicense   = event.SystemActor("license")
)

// Workers is what the monitor needs of the worker repository.
type Workers interface {
	Load(ctx context.Context, id string) (*worker.Worker, error)
	Update(ctx context.Context, id string, decide func(*worker.Worker) error) (*worker.Worker, error)
}

// Labs is what the lab refresh needs of the lab repository.
type Labs interface {
	Create(ctx context.Context, id string, decide func(*lab.Lab) error) (*lab.Lab, error)
	Update(ctx context.Context, id string, decide func(*lab.Lab) error) (*lab.Lab, error)
}

// ReadModel is the part of readmodel.Store the monitor reads.
type ReadModel interface {
	ListWorkers(ctx context.Context, f readmodel.WorkerFilter, cursor string, limit int) ([]readmodel.Worker, string, error)
	WorkerByInstance(ctx context.Context, instanceID string) (readmodel.Worker, error)
	ListLabs(ctx context.Context, workerID string) ([]readmodel.Lab, error)
}

// Cloud is the part of cloud.Cloud the monitor uses.
type Cloud interface {
	Describe(ctx context.Context, region string, ids []string) ([]cloud.Instance, error)
	Metrics(ctx context.Context, region string, ids []string, from, to time.Time) (map[string]cloud.MetricSample, error)
	Discover(ctx context.Context, region string, f cloud.DiscoverFilter) ([]cloud.Instance, error)
	Start(ctx context.Context, region, instanceID string) error
	Stop(ctx context.Context, region, instanceID string) error
	Terminate(ctx context.Context, region, instanceID string) error
}

// CML is the part of the CML client the monitor uses.
type CML interface {
	SystemInformation(ctx context.Context) (cml.SystemInformation, error)
	SystemStats(ctx context.Context) (cml.SystemStats, error)
	Licensing(ctx context.Context) (cml.LicensingStatus, error)
	Labs(ctx context.Context) ([]cml.Lab, error)
	TelemetryEvents(ctx context.Context, filter *cml.ActivityFilter) ([]cml.TelemetryEvent, error)
}

// Power starts and pauses workers: the fleet service's Start/Stop with the
// auto flag, or DirectPower. Start with auto=true is a scheduled wake-up.
type Power interface {
	Start(ctx context.Context, id, reason string, auto bool) error
	Stop(ctx context.Context, id, reason string, auto bool) error
	AutoPause(ctx context.Context, id string, idleMinutes int) error
}

// Sample is one telemetry point of a worker (not event-sourced).
type Sample struct {
	WorkerID      string    `json:"workerId"`
	At            time.Time `json:"at"`
	ExpiresAt     time.Time `json:"expiresAt"` // TTL from the settings' retention
	CPUPercent    *float64  `json:"cpuPercent,omitempty"`
	MemoryPercent *float64  `json:"memoryPercent,omitempty"`
	DiskPercent   *float64  `json:"diskPercent,omitempty"`
	RunningNodes  *int      `json:"runningNodes,omitempty"`
	TotalNodes    *int      `json:"totalNodes,omitempty"`
	Labs          *int      `json:"labs,omitempty"`
	CMLReachable  bool      `json:"cmlReachable"`
	Source        string    `json:"source"` // "cloudwatch+cml", "cloudwatch"
}

// Telemetry stores samples (the fleet's telemetry store, with TTL).
type Telemetry interface {
	Put(ctx context.Context, s Sample) error
}

// Publisher publishes integration events (bus.Local, bus.EventBridge).
type Publisher interface {
	Publish(ctx context.Context, events []event.Event) error
}

// Importer imports a discovered instance as a worker (the fleet service).
type Importer interface {
	ImportInstance(ctx context.Context, in cloud.Instance) error
}

// Options configure a Monitor.
type Options struct {
	Workers   Workers
	Labs      Labs
	ReadModel ReadModel
	Settings  func(ctx context.Context) (settings.Values, error)
	Cloud     Cloud
	// CML returns the client of a worker's CML API; default: one cached
	// cml.Client per endpoint (so tokens are reused across ticks).
	CML       func(endpoint string) CML
	Power     Power     // default DirectPower over Workers and Cloud
	Telemetry Telemetry // nil: samples are dropped
	License   *LicenseJobs
	Publisher Publisher // orphan reports; nil: logged only
	Importer  Importer  // discovery imports; nil: discovered instances are reported only
	// Now is the wall clock of idle timeouts and wake-ups (injectable for
	// tests). Observations of EC2 and CloudWatch windows always use the
	// real time, as EC2's own notifications do.
	Now func() time.Time
	// Concurrency bounds the workers whose CML is called at once
	// (default 100); CallTimeout bounds each CML call (default 5 s) and
	// WorkerTimeout all of one worker's CML calls in a tick (default 20 s).
	Concurrency   int
	CallTimeout   time.Duration
	WorkerTimeout time.Duration
	Metrics       *EMF // nil: no embedded-metric lines
	Logger        *slog.Logger
}

// Monitor runs ticks.
type Monitor struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	clients map[string]CML
	tokens  *cml.MemoryTokenStore
}

// New returns a monitor.
func New(o Options) *Monitor {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 100
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 5 * time.Second
	}
	if o.WorkerTimeout <= 0 {
		o.WorkerTimeout = 20 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	m := &Monitor{o: o, log: o.Logger.With("component", "monitor"), clients: map[string]CML{}, tokens: cml.NewMemoryTokenStore()}
	if m.o.Power == nil {
		m.o.Power = NewDirectPower(o.Workers, o.Cloud)
	}
	if m.o.CML == nil {
		m.o.CML = m.cachedClient
	}
	return m
}

func (m *Monitor) cachedClient(endpoint string) CML {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[endpoint]
	if !ok {
		c = cml.New(endpoint, cml.WithTimeout(m.o.CallTimeout), cml.WithRetries(0), cml.WithTokenStore(m.tokens),
			cml.WithLogger(m.o.Logger))
		m.clients[endpoint] = c
	}
	return c
}

// Due reports whether a job with the given interval is due for key in
// (prev, now]: the stateless schedule of the tick.
func Due(key string, interval time.Duration, prev, now time.Time) bool {
	if interval <= 0 || !now.After(prev) {
		return false
	}
	if now.Sub(prev) >= interval {
		return true
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	off := int64(h.Sum64() % uint64(interval))
	i := int64(interval)
	return floorDiv(now.UnixNano()-off, i) > floorDiv(prev.UnixNano()-off, i)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// Report says what a tick did.
type Report struct {
	At               time.Time      `json:"at"`
	Workers          int            `json:"workers"`
	ByStatus         map[string]int `json:"byStatus"`
	Described        int            `json:"described"`
	MetricsCollected int            `json:"metricsCollected"`
	CMLErrors        int            `json:"cmlErrors"`
	LabsRefreshed    int            `json:"labsRefreshed"`
	IdleChecked      int            `json:"idleChecked"`
	Warnings         int            `json:"warnings"`
	Pauses           int            `json:"pauses"`
	Wakeups          int            `json:"wakeups"`
	ExternalChanges  int            `json:"externalChanges"`
	Reconciled       int            `json:"reconciled"`
	LicensePolled    int            `json:"licensePolled"`
	Discovered       int            `json:"discovered"`
	Orphans          []string       `json:"orphans"`
	Errors           int            `json:"errors"`
	Duration         time.Duration  `json:"duration"`
}

type counters struct {
	mu sync.Mutex
	r  *Report
}

func (c *counters) add(f func(r *Report)) {
	c.mu.Lock()
	f(c.r)
	c.mu.Unlock()
}

// tracked is one worker of the tick, from the read model.
type tracked struct {
	row  readmodel.Worker
	view worker.View
}

// Tick runs one round at now; prev is the previous tick's time (in
// production: now minus the schedule's period).
func (m *Monitor) Tick(ctx context.Context, prev, now time.Time) (Report, error) {
	start := time.Now()
	corr := fmt.Sprintf("tick-%d", now.Unix())
	ctx = event.WithMeta(ctx, event.Meta{Actor: ActorMonitor, CorrelationID: corr})
	rep := Report{At: now, ByStatus: map[string]int{}, Orphans: []string{}}
	cnt := &counters{r: &rep}
	log := m.log.With("correlationId", corr, "actor", ActorMonitor)

	v, err := m.o.Settings(ctx)
	if err != nil {
		return rep, fmt.Errorf("tick: settings: %w", err)
	}
	all, err := m.list(ctx)
	if err != nil {
		return rep, fmt.Errorf("tick: list workers: %w", err)
	}
	rep.Workers = len(all)
	for _, t := range all {
		rep.ByStatus[string(t.view.Status)]++
	}
	iv := v.Intervals
	var collect, labs, idleDue []tracked
	for _, t := range all {
		switch t.view.Status {
		case worker.StatusTerminated:
			continue
		}
		if t.view.InstanceID != "" && t.view.Provisioning.State != worker.ProvisioningInProgress &&
			Due("metrics/"+t.row.ID, settings.Every(iv.MetricsSeconds), prev, now) {
			collect = append(collect, t)
		}
		if t.view.Status == worker.StatusRunning && t.view.CML.Ready &&
			Due("labs/"+t.row.ID, settings.Every(iv.LabsRefreshSeconds), prev, now) {
			labs = append(labs, t)
		}
		if t.view.Status == worker.StatusRunning && Due("idle/"+t.row.ID, settings.Every(iv.IdleCheckSeconds), prev, now) {
			idleDue = append(idleDue, t)
		}
	}

	cpu := m.collect(ctx, log, v, collect, now, cnt)
	m.refreshLabs(ctx, log, labs, cnt)
	m.checkIdle(ctx, log, v, idleDue, cpu, now, cnt)
	m.wakeUps(ctx, log, all, prev, now, cnt)
	m.pollLicenses(ctx, log, all, cnt)
	if Due("discovery", settings.Every(iv.DiscoverySeconds), prev, now) {
		m.discover(ctx, log, v, all, cnt)
	}
	rep.Duration = time.Since(start)
	log.Info("tick", "workers", rep.Workers, "described", rep.Described, "metrics", rep.MetricsCollected,
		"cmlErrors", rep.CMLErrors, "labs", rep.LabsRefreshed, "idleChecked", rep.IdleChecked, "warnings", rep.Warnings,
		"pauses", rep.Pauses, "wakeups", rep.Wakeups, "externalChanges", rep.ExternalChanges, "orphans", len(rep.Orphans),
		"errors", rep.Errors, "durationMs", rep.Duration.Milliseconds())
	m.o.Metrics.Tick(rep)
	return rep, nil
}

// list reads every worker from the read model.
func (m *Monitor) list(ctx context.Context) ([]tracked, error) {
	var out []tracked
	cursor := ""
	for {
		page, next, err := m.o.ReadModel.ListWorkers(ctx, readmodel.WorkerFilter{}, cursor, 500)
		if err != nil {
			return nil, err
		}
		for _, row := range page {
			var v worker.View
			if err := json.Unmarshal(row.Doc, &v); err != nil {
				m.log.Warn("unreadable worker row", "worker", row.ID, "err", err)
				continue
			}
			out = append(out, tracked{row: row, view: v})
		}
		if next == "" {
			return out, nil
		}
		cursor = next
	}
}

// each runs fn for every item with bounded concurrency; one slow item
// holds one slot for at most its own timeout.
func each[T any](ctx context.Context, limit int, items []T, fn func(context.Context, T)) {
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for _, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			fn(ctx, it)
		}()
	}
	wg.Wait()
}

// with stamps the command meta of an automation event.
func (m *Monitor) with(ctx context.Context, actor string) context.Context {
	meta := event.MetaFrom(ctx, m.o.Now().UTC())
	meta.Actor, meta.Time = actor, m.o.Now().UTC()
	return event.WithMeta(ctx, meta)
}

// Refresh collects one worker's EC2 and CML facts now, as a due tick
// would (fleet.Refresher; an on-demand refresh from the API).
func (m *Monitor) Refresh(ctx context.Context, workerID string) error {
	v, err := m.o.Settings(ctx)
	if err != nil {
		return err
	}
	w, err := m.o.Workers.Load(ctx, workerID)
	if err != nil {
		return err
	}
	view := w.View()
	if view.InstanceID == "" {
		return nil
	}
	rep := Report{ByStatus: map[string]int{}}
	t := tracked{row: readmodel.Worker{ID: workerID, Region: view.Region, Status: string(view.Status), InstanceID: view.InstanceID}, view: view}
	m.collect(ctx, m.log.With("actor", ActorMonitor, "worker", workerID), v, []tracked{t}, m.o.Now(), &counters{r: &rep})
	if view.Status == worker.StatusRunning && view.CML.Ready && m.o.Labs != nil {
		return m.RefreshLabs(ctx, workerID, view.Endpoint)
	}
	return nil
}
