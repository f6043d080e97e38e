package monitor_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/cml"
	"github.com/cmlcm/cmlcm/internal/cmlsim"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	esbolt "github.com/cmlcm/cmlcm/internal/eventstore/bolt"
	"github.com/cmlcm/cmlcm/internal/lab"
	"github.com/cmlcm/cmlcm/internal/monitor"
	"github.com/cmlcm/cmlcm/internal/projector"
	rmbolt "github.com/cmlcm/cmlcm/internal/readmodel/bolt"
	"github.com/cmlcm/cmlcm/internal/sandbox"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// countingCloud counts the AWS API calls the monitor makes.
type countingCloud struct {
	monitor.Cloud
	calls atomic.Int64
}

func (c *countingCloud) Describe(ctx context.Context, r string, ids []string) ([]cloud.Instance, error) {
	c.calls.Add(1)
	return c.Cloud.Describe(ctx, r, ids)
}

func (c *countingCloud) Metrics(ctx context.Context, r string, ids []string, from, to time.Time) (map[string]cloud.MetricSample, error) {
	c.calls.Add(1)
	return c.Cloud.Metrics(ctx, r, ids, from, to)
}

type countingTransport struct {
	next  http.RoundTripper
	calls *atomic.Int64
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.calls.Add(1)
	return t.next.RoundTrip(r)
}

// BenchmarkMonitoringCycle is one tick over 1,000 running sandbox workers
// whose CML answers every call after 200 ms: metrics (one Describe, one
// GetMetricData-equivalent batch), CML system information, stats and
// licensing, lab refresh and idle telemetry for every worker.
func BenchmarkMonitoringCycle(b *testing.B) {
	const fleet = 1000
	const latency = 200 * time.Millisecond
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	store, err := esbolt.Open(filepath.Join(b.TempDir(), "db"))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	rm, _ := rmbolt.New(store.DB())
	sb, err := sandbox.New(sandbox.Options{Scale: 1e6, PlainHTTP: true, Logger: log,
		SimOptions: func(_ string, o *cmlsim.Options) { o.Logger = log }})
	if err != nil {
		b.Fatal(err)
	}
	defer sb.Close()
	workers := eventstore.NewRepository(store, worker.New)
	settingsRepo := eventstore.NewRepository(store, settings.New)
	if _, err := settingsRepo.Create(ctx, settings.ID, func(s *settings.Settings) error {
		return s.Update(json.RawMessage(`{"intervals":{"metricsSeconds":60,"labsRefreshSeconds":60,"idleCheckSeconds":60,"discoverySeconds":604800}}`))
	}); err != nil {
		b.Fatal(err)
	}
	var ids []string
	for i := range fleet {
		in, err := sb.Launch(ctx, cloud.LaunchSpec{WorkerID: fmt.Sprintf("w-%04d", i), Region: region, AMIID: sandbox.DefaultImages[0].ID, InstanceType: "m5zn.metal"})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, in.ID)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		insts, _ := sb.Describe(ctx, region, ids)
		ok := 0
		for _, in := range insts {
			if in.StatusOK() {
				ok++
			}
		}
		if ok == fleet {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d instances ready", ok, fleet)
		}
		time.Sleep(50 * time.Millisecond)
	}
	insts, _ := sb.Describe(ctx, region, ids)
	for i, in := range insts {
		id := fmt.Sprintf("w-%04d", i)
		w, err := workers.Create(ctx, id, func(w *worker.Worker) error {
			if err := w.Import(worker.ImportSpec{Name: id, Region: region, InstanceID: in.ID, InstanceType: in.InstanceType,
				AMIID: in.AMIID, State: worker.EC2Running, ObservedAt: time.Now().Add(-time.Hour), PrivateIP: in.PrivateIP,
				PublicIP: in.PublicIP, Endpoint: in.CMLURL()}); err != nil {
				return err
			}
			return w.ObserveCML(worker.CMLObservation{ServiceStatus: worker.ServiceAvailable, Ready: true, Version: "2.9.0"})
		})
		if err != nil {
			b.Fatal(err)
		}
		if err := projector.ProjectWorker(ctx, rm, w); err != nil {
			b.Fatal(err)
		}
		sb.Simulator(in.ID).SetFaults(cmlsim.Faults{Latency: latency})
	}
	cc := &countingCloud{Cloud: sb}
	var cmlCalls atomic.Int64
	tokens := cml.NewMemoryTokenStore()
	clients := map[string]*cml.Client{}
	for _, in := range insts {
		clients[in.CMLURL()] = cml.New(in.CMLURL(), cml.WithTimeout(5*time.Second), cml.WithRetries(0), cml.WithTokenStore(tokens),
			cml.WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{rt, &cmlCalls} }))
	}
	m := monitor.New(monitor.Options{Workers: workers, Labs: eventstore.NewRepository(store, lab.New), ReadModel: rm,
		Settings: func(ctx context.Context) (settings.Values, error) {
			s, err := settingsRepo.Load(ctx, settings.ID)
			return s.Values(), err
		}, Cloud: cc, CML: func(e string) monitor.CML { return clients[e] }, Logger: log})
	// A first cycle logs every client in (once per process in production).
	now := time.Now()
	if _, err := m.Tick(ctx, now.Add(-time.Minute), now); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var rep monitor.Report
	for b.Loop() {
		cc.calls.Store(0)
		cmlCalls.Store(0)
		now := time.Now()
		rep, err = m.Tick(ctx, now.Add(-time.Minute), now)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if rep.MetricsCollected != fleet || rep.CMLErrors != 0 {
		b.Fatalf("report %+v", rep)
	}
	b.ReportMetric(rep.Duration.Seconds(), "cycle-s")
	b.ReportMetric(float64(cc.calls.Load()), "aws-calls/op")
	b.ReportMetric(float64(cmlCalls.Load()), "cml-calls/op")
	b.Logf("1,000 workers, CML latency %s: cycle %s, AWS calls %d, CML calls %d (metrics %d, labs %d, idle %d)",
		latency, rep.Duration.Round(time.Millisecond), cc.calls.Load(), cmlCalls.Load(), rep.MetricsCollected, rep.LabsRefreshed, rep.IdleChecked)
}

// BenchmarkIdleCost simulates 30 days of 50 workers from a seeded usage
// trace and compares the billed idle hours of three policies.
func BenchmarkIdleCost(b *testing.B) {
	for b.Loop() {
		res := idleCost()
		for _, r := range res {
			b.ReportMetric(r.idleHours, r.name+"-idle-h")
			b.ReportMetric(r.dollars, r.name+"-usd")
		}
		b.StopTimer()
		for _, r := range res {
			b.Logf("%-32s billed %7.0f h  idle billed %7.0f h  $%9.0f", r.name, r.billedHours, r.idleHours, r.dollars)
		}
		b.StartTimer()
	}
}

type costResult struct {
	name                            string
	billedHours, idleHours, dollars float64
}

// idleCost runs the trace minute by minute. Sessions: on weekdays each
// worker has 0–3 sessions of 30 min–4 h between 08:00 and 19:00; a
// session's first minute starts the worker if stopped (the user asks);
// CML needs 15 billed minutes to boot before the session can start.
// Policies: never pause; check every 30 min, pause at ≥60 min idle (the
// system we replace); check every minute with the same 60-min timeout,
// 60-min snooze after a resume (ours).
func idleCost() []costResult {
	const (
		workers = 50
		days    = 30
		minutes = days * 24 * 60
		price   = 3.964
		boot    = 15
	)
	rng := rand.New(rand.NewPCG(42, 2026))
	active := make([][]bool, workers)
	for w := range active {
		active[w] = make([]bool, minutes)
		for d := range days {
			if d%7 >= 5 {
				continue // weekend
			}
			for range rng.IntN(4) {
				start := d*1440 + 8*60 + rng.IntN(11*60)
				length := 30 + rng.IntN(210)
				for m := start; m < min(start+length, minutes); m++ {
					active[w][m] = true
				}
			}
		}
	}
	type policy struct {
		name  string
		check int // minutes between checks; 0 = never pause
	}
	var out []costResult
	for _, p := range []policy{{"a-never-pause", 0}, {"b-30min-check-60min-timeout", 30}, {"c-ours-1min-check-60min", 1}} {
		var billed, idle int
		for w := range workers {
			running, lastActive, resumed := true, 0, 0
			for m := range minutes {
				if active[w][m] {
					if !running {
						running, resumed = true, m
						billed += boot // booting before the session can use it
						idle += boot
					}
					lastActive = m
				}
				if !running {
					continue
				}
				billed++
				if !active[w][m] {
					idle++
				}
				if p.check > 0 && m%p.check == 0 && m-lastActive >= 60 && m-resumed >= 60 {
					running = false
				}
			}
		}
		out = append(out, costResult{p.name, float64(billed) / 60, float64(idle) / 60, float64(billed) / 60 * price})
	}
	return out
}
