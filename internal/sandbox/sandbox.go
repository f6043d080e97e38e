// Package sandbox is the local mode's EC2: simulated instances that move
// through the EC2 lifecycle with realistic, time-scaled durations, emit the
// EventBridge "EC2 Instance State-change Notification" for every
// transition, and each serve a simulated CML controller (internal/cmlsim)
// on their own 127.0.0.1 port while running. It implements the same method
// set as internal/ec2cloud, so everything above it runs unchanged.
//
// State persists in a JSON file in the data directory, so a restarted local
// server finds its instances (and their labs) again and in-flight
// transitions resume where they were.
package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/cmlsim"
)

// Durations of the simulated lifecycle, in real (unscaled) time. The
// defaults are those of a metal instance.
type Durations struct {
	Pending      time.Duration // pending → running; default 2m
	StatusChecks time.Duration // running → status checks ok; default 5m
	CMLBoot      time.Duration // running → CML API ready; default 13m (a 15-minute boot in all)
	Stopping     time.Duration // stopping → stopped; default 2m
	ShuttingDown time.Duration // shutting-down → terminated; default 1m
	// Retention is how long a terminated instance stays visible, as EC2
	// keeps one for about an hour; default 1h.
	Retention time.Duration
}

// DefaultDurations are a metal instance's.
var DefaultDurations = Durations{
	Pending:      2 * time.Minute,
	StatusChecks: 5 * time.Minute,
	CMLBoot:      13 * time.Minute,
	Stopping:     2 * time.Minute,
	ShuttingDown: time.Minute,
	Retention:    time.Hour,
}

func (d Durations) withDefaults() Durations {
	def := DefaultDurations
	for _, f := range []struct{ v, def *time.Duration }{
		{&d.Pending, &def.Pending}, {&d.StatusChecks, &def.StatusChecks}, {&d.CMLBoot, &def.CMLBoot},
		{&d.Stopping, &def.Stopping}, {&d.ShuttingDown, &def.ShuttingDown}, {&d.Retention, &def.Retention},
	} {
		if *f.v == 0 {
			*f.v = *f.def
		}
	}
	return d
}

// Image is an AMI of the sandbox's catalog.
type Image struct {
	ID, Name string
	Created  time.Time
}

// DefaultImages is the catalog when Options.Images is empty.
var DefaultImages = []Image{
	{ID: "ami-0c3150000000002a9", Name: "cml-2.9.0-controller", Created: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)},
	{ID: "ami-0c3150000000002a8", Name: "cml-2.8.1-controller", Created: time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC)},
}

// Options configure a Sandbox. Zero values take the defaults.
type Options struct {
	// Dir is the data directory holding sandbox.json; empty keeps state in
	// memory only.
	Dir string
	// Account is the AWS account id in events and ARNs; default
	// 000000000000.
	Account string
	// Scale divides every duration: 60 makes a 15-minute boot take 15 s.
	// Default 1 (real time).
	Scale     float64
	Durations Durations
	Images    []Image
	// CML credentials of every simulated controller; default admin/admin.
	CMLUsername, CMLPassword string
	// PlainHTTP serves the simulators over HTTP instead of HTTPS with a
	// self-signed certificate (what a real worker presents).
	PlainHTTP bool
	// Host is the listen address of the simulators; default 127.0.0.1.
	Host string
	// SimOptions, if set, adjusts each simulator's options (tests use it
	// for node boot delays or a fake clock).
	SimOptions func(instanceID string, o *cmlsim.Options)
	// Checkpoint is how often running simulators' labs are saved to disk,
	// so a crash loses at most that much; default 30s.
	Checkpoint time.Duration
	Logger     *slog.Logger
}

// Sandbox is a simulated EC2 region set. Safe for concurrent use.
type Sandbox struct {
	opts  Options
	dur   Durations
	scale float64
	log   *slog.Logger
	file  string

	mu        sync.Mutex
	instances map[string]*instance
	sims      map[string]*runningSim
	faults    []Fault
	wake      chan struct{}
	closed    bool

	subMu   sync.Mutex
	subs    map[int]func(events.CloudWatchEvent)
	nextSub int
	queue   []events.CloudWatchEvent
	queueMu sync.Mutex
	queued  chan struct{}

	stop chan struct{}
	done sync.WaitGroup
}

var _ cloud.Cloud = (*Sandbox)(nil)

// New opens (or creates) a sandbox. Instances found in the data directory
// resume: running ones get their simulators back, and transitions that
// came due while the process was down fire at once.
func New(opts Options) (*Sandbox, error) {
	if opts.Account == "" {
		opts.Account = "000000000000"
	}
	if opts.Scale == 0 {
		opts.Scale = 1
	}
	if opts.Scale < 0 {
		return nil, fmt.Errorf("sandbox: negative time scale %v: %w", opts.Scale, cloud.ErrInvalidConfig)
	}
	if len(opts.Images) == 0 {
		opts.Images = DefaultImages
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	if opts.Checkpoint <= 0 {
		opts.Checkpoint = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Sandbox{
		opts:      opts,
		dur:       opts.Durations.withDefaults(),
		scale:     opts.Scale,
		log:       opts.Logger.With("component", "sandbox"),
		instances: make(map[string]*instance),
		sims:      make(map[string]*runningSim),
		wake:      make(chan struct{}, 1),
		subs:      make(map[int]func(events.CloudWatchEvent)),
		queued:    make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	if err := s.load(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	for _, in := range s.instances {
		if in.State == cloud.StateRunning {
			s.startSim(in, time.Now())
		}
	}
	err := s.persist()
	s.mu.Unlock()
	if err != nil {
		s.Close()
		return nil, err
	}
	s.done.Add(2)
	go s.run()
	go s.dispatch()
	return s, nil
}

// Subscribe registers fn for every state-change event, delivered in order
// on one goroutine (fn may call the sandbox). The returned func removes it.
func (s *Sandbox) Subscribe(fn func(events.CloudWatchEvent)) (unsubscribe func()) {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	id := s.nextSub
	s.nextSub++
	s.subs[id] = fn
	return func() {
		s.subMu.Lock()
		defer s.subMu.Unlock()
		delete(s.subs, id)
	}
}

// Close stops the clock, saves every running simulator's labs and the
// sandbox state, and shuts the simulators down. Queued events are
// delivered first. Instances keep their state for the next New.
func (s *Sandbox) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.done.Wait()

	s.mu.Lock()
	defer s.mu.Unlock()
	for id, rs := range s.sims {
		if in := s.instances[id]; in != nil {
			in.saveSim(rs, s.log)
		}
		rs.shutdown()
		delete(s.sims, id)
	}
	return s.persist()
}

// Simulator returns the CML simulator of a running instance (nil when the
// instance is not running), for tests and fault injection.
func (s *Sandbox) Simulator(instanceID string) *cmlsim.Sim {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rs := s.sims[instanceID]; rs != nil {
		return rs.sim
	}
	return nil
}

// emit queues a state change for delivery. Callers hold s.mu, so events
// are queued in transition order.
func (s *Sandbox) emit(in *instance, at time.Time) {
	ev := cloud.StateChange{Account: s.opts.Account, Region: in.Region, Time: at, InstanceID: in.ID, State: in.State}.Event()
	s.queueMu.Lock()
	s.queue = append(s.queue, ev)
	s.queueMu.Unlock()
	select {
	case s.queued <- struct{}{}:
	default:
	}
}

// dispatch delivers queued events to the subscribers, in order, outside
// the sandbox lock. On Close it drains the queue and returns.
func (s *Sandbox) dispatch() {
	defer s.done.Done()
	for {
		s.queueMu.Lock()
		batch := s.queue
		s.queue = nil
		s.queueMu.Unlock()
		s.subMu.Lock()
		subs := make([]func(events.CloudWatchEvent), 0, len(s.subs))
		for i := 0; i < s.nextSub; i++ {
			if fn, ok := s.subs[i]; ok {
				subs = append(subs, fn)
			}
		}
		s.subMu.Unlock()
		for _, ev := range batch {
			for _, fn := range subs {
				fn(ev)
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-s.queued:
		case <-s.stop:
			s.queueMu.Lock()
			empty := len(s.queue) == 0
			s.queueMu.Unlock()
			if empty {
				return
			}
		}
	}
}

// scaled converts a real duration to sandbox time.
func (s *Sandbox) scaled(d time.Duration) time.Duration {
	return time.Duration(float64(d) / s.scale)
}

// poke wakes the scheduler after a deadline changed.
func (s *Sandbox) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func newInstanceID() string {
	b := make([]byte, 9)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return "i-" + hex.EncodeToString(b)[:17]
}

var errClosed = errors.New("sandbox: closed")
