package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cmlcm/cmlcm/internal/bus"
	esbolt "github.com/cmlcm/cmlcm/internal/eventstore/bolt"
	"github.com/cmlcm/cmlcm/internal/fleet"
	"github.com/cmlcm/cmlcm/internal/projector"
	rmbolt "github.com/cmlcm/cmlcm/internal/readmodel/bolt"
	"github.com/cmlcm/cmlcm/internal/sandbox"
	"github.com/cmlcm/cmlcm/internal/secrets"
	tmbolt "github.com/cmlcm/cmlcm/internal/telemetry/bolt"
)

// RuntimeOptions configure the in-process fabric.
type RuntimeOptions struct {
	DataDir string
	// TimeScale divides the sandbox's simulated EC2/CML durations (60 makes
	// a 15-minute metal boot take 15 s). Idle timeouts stay wall-clock.
	TimeScale float64
	// Durations override the sandbox's lifecycle durations (tests).
	Durations sandbox.Durations
	// PlainHTTP serves the simulated CML APIs over HTTP (tests).
	PlainHTTP bool
	// CMLCredentials of the simulated controllers (default admin/admin),
	// stored as the fleet-wide CML secret.
	CMLCredentials secrets.Credentials
	// Tick is the automation's tick interval (0: no ticker; tests tick by hand).
	Tick   time.Duration
	Logger *slog.Logger
}

// Runtime is everything the local server runs on, in one data directory:
// the bbolt event store, read models and telemetry (one file), the secret
// file, the sandbox cloud with its CML simulators, the projector on the
// store's change feed, and the fleet service. Tests build one to run the
// API against the same wiring as `cmlcm serve`.
type Runtime struct {
	Store     *esbolt.Store
	ReadModel *rmbolt.Store
	Telemetry *tmbolt.Store
	Secrets   *secrets.File
	Sandbox   *sandbox.Sandbox
	Bus       *bus.Local
	Fleet     *fleet.Service
	Log       *slog.Logger

	feed    *esbolt.Feed
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closers []func() error
	mu      sync.Mutex
	closed  bool
}

// CMLCredentials are the simulated controllers' default credentials.
var CMLCredentials = secrets.Credentials{Username: "admin", Password: "admin"}

// OpenRuntime opens (or creates) the data directory and starts the
// projector. Close stops everything.
func OpenRuntime(o RuntimeOptions) (*Runtime, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.TimeScale == 0 {
		o.TimeScale = 1
	}
	if o.CMLCredentials.Username == "" {
		o.CMLCredentials = CMLCredentials
	}
	if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	rt := &Runtime{Log: o.Logger, Bus: bus.NewLocal()}
	fail := func(err error) (*Runtime, error) {
		rt.Close()
		return nil, err
	}
	store, err := esbolt.Open(filepath.Join(o.DataDir, "cmlcm.db"), esbolt.WithLogger(o.Logger))
	if err != nil {
		return nil, err
	}
	rt.Store = store
	rt.closers = append(rt.closers, store.Close)
	if rt.ReadModel, err = rmbolt.New(store.DB()); err != nil {
		return fail(err)
	}
	if rt.Telemetry, err = tmbolt.New(store.DB()); err != nil {
		return fail(err)
	}
	if rt.Secrets, err = secrets.OpenFile(filepath.Join(o.DataDir, "secrets.json")); err != nil {
		return fail(err)
	}
	ctx := context.Background()
	if c, err := secrets.CMLCredentials(ctx, rt.Secrets, ""); err != nil || c != o.CMLCredentials {
		if err := secrets.PutCMLCredentials(ctx, rt.Secrets, "", o.CMLCredentials); err != nil {
			return fail(err)
		}
	}
	sb, err := sandbox.New(sandbox.Options{Dir: o.DataDir, Scale: o.TimeScale, Durations: o.Durations,
		CMLUsername: o.CMLCredentials.Username, CMLPassword: o.CMLCredentials.Password, PlainHTTP: o.PlainHTTP, Logger: o.Logger})
	if err != nil {
		return fail(err)
	}
	rt.Sandbox = sb
	// The sandbox closes before the store (closers run in reverse).
	rt.closers = append(rt.closers, sb.Close)
	if rt.feed, err = esbolt.NewFeed(store, "projector"); err != nil {
		return fail(err)
	}
	rt.Fleet, err = fleet.New(fleet.Deps{EventStore: store, ReadModel: rt.ReadModel, Cloud: sb, Secrets: rt.Secrets,
		Telemetry: rt.Telemetry, Environment: "local", Logger: o.Logger})
	if err != nil {
		return fail(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	rt.cancel = cancel
	p := projector.New(projector.Projections(store, rt.ReadModel), rt.ReadModel, rt.Bus, o.Logger)
	rt.Go(func(ctx context.Context) error { return rt.feed.Run(ctx, p.Handle) })
	if err := wireAutomation(runCtx, rt, o); err != nil {
		return fail(err)
	}
	_ = runCtx
	return rt, nil
}

// Go runs fn until the runtime closes (its context is then cancelled and
// Close waits for it). Errors other than the cancellation are logged.
func (rt *Runtime) Go(fn func(ctx context.Context) error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.closed {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	prev := rt.cancel
	rt.cancel = func() {
		cancel()
		if prev != nil {
			prev()
		}
	}
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
			rt.Log.Error("background task stopped", "err", err)
		}
	}()
}

// OnClose registers fn to run when the runtime closes, before the sandbox
// and the store close.
func (rt *Runtime) OnClose(fn func() error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.closers = append(rt.closers, fn)
}

// Close stops the background tasks after their current step, then closes
// the sandbox (saving its state) and the store. Every write acknowledged
// before is durable: bbolt fsyncs each commit.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil
	}
	rt.closed = true
	cancel, closers := rt.cancel, rt.closers
	rt.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	rt.wg.Wait()
	var errs []error
	for i := len(closers) - 1; i >= 0; i-- {
		if err := closers[i](); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
