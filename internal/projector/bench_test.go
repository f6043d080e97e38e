package projector_test

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	esbolt "github.com/cmlcm/cmlcm/internal/eventstore/bolt"
	"github.com/cmlcm/cmlcm/internal/projector"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	rmbolt "github.com/cmlcm/cmlcm/internal/readmodel/bolt"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// BenchmarkProjectionLag measures, on the embedded runtime, the time from a
// command's append to its worker row being readable in the read model:
// change feed + projector (load latest, write view, activity rows).
func BenchmarkProjectionLag(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store, err := esbolt.Open(filepath.Join(b.TempDir(), "e.db"), esbolt.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	rm, err := rmbolt.New(store.DB())
	if err != nil {
		b.Fatal(err)
	}
	feed, err := esbolt.NewFeed(store, "projector")
	if err != nil {
		b.Fatal(err)
	}
	p := projector.New(projector.Projections(store, rm), rm, nil, slog.New(slog.DiscardHandler))
	go func() { _ = feed.Run(ctx, p.Handle) }()

	repo := eventstore.NewRepository(store, worker.New)
	mctx := event.WithMeta(ctx, event.Meta{Actor: "bench"})
	if _, err := repo.Create(mctx, "w-bench", func(w *worker.Worker) error {
		return w.Create(worker.CreateSpec{Name: "bench", Region: "us-east-1", InstanceType: "m5zn.metal", AMIID: "ami-1"})
	}); err != nil {
		b.Fatal(err)
	}
	const samples = 200
	lags := make([]time.Duration, 0, samples)
	b.ResetTimer()
	for i := 0; i < max(b.N, samples); i++ {
		start := time.Now()
		w, err := repo.Update(mctx, "w-bench", func(w *worker.Worker) error {
			return w.SetTags(map[string]string{"n": time.Now().String()})
		})
		if err != nil {
			b.Fatal(err)
		}
		for {
			row, err := rm.GetWorker(ctx, "w-bench")
			if err == nil && row.Version >= w.Version() {
				break
			}
			if err != nil && !errors.Is(err, readmodel.ErrNotFound) {
				b.Fatal(err)
			}
			if time.Since(start) > 10*time.Second {
				b.Fatal("read model did not catch up within 10s")
			}
			time.Sleep(100 * time.Microsecond)
		}
		lags = append(lags, time.Since(start))
	}
	slices.Sort(lags)
	b.ReportMetric(float64(lags[len(lags)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lags[len(lags)*99/100].Microseconds())/1000, "p99-ms")
}
