// Package cmlsim is a simulated Cisco Modeling Labs (CML) 2.9 controller.
//
// It serves the subset of the CML REST API (/api/v0/...) that the fleet
// manager and Cisco's own Python client (virl2-client) use: users and tokens,
// labs with nodes, interfaces and links, the lab state machine, topology YAML
// import and download, licensing with asynchronous registration, telemetry
// events, system information, health and statistics that follow the
// simulated load, and node/image definitions. A *Sim is an http.Handler;
// Serve runs one over HTTPS (generated self-signed certificate) or plain HTTP.
//
// Time-driven behaviour (boot delay, node boot, licence registration) is
// evaluated lazily against Options.Clock whenever the simulator is asked, so
// it needs no goroutines and tests can drive it with a fake clock.
//
// Behaviour follows the project's CML API guide (shared/cml/CML-API.md) and the
// CML 2.9 OpenAPI document; docs/cml.md lists where and why it differs from a
// real controller.
package cmlsim

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Version is the CML release the simulator reports in system_information.
// 2.9.0 is accepted by virl2-client 2.9.x and 2.10.x and by gocmlclient.
const Version = "2.9.0"

// AdminUserID is the id of the built-in admin user, as on a real controller.
// The fleet manager treats ids matching ^00000000-0000- as automation.
const AdminUserID = "00000000-0000-4000-a000-000000000000"

// Options configure a simulator. The zero value is a ready controller with
// user admin/admin and no labs.
type Options struct {
	Username, Password string        // default "admin"/"admin"
	BootDelay          time.Duration // system_information.ready becomes true after this (0 = ready at once)
	Clock              func() time.Time
	State              []byte // optional: restore labs/licensing/telemetry saved by (*Sim).SaveState
	Logger             *slog.Logger

	// NodeBootDelay is how long a started node takes to reach BOOTED
	// (QUEUED for the first fifth, then STARTED). 0 = BOOTED at once, which
	// makes virl2-client's lab.start() return on its first convergence poll.
	NodeBootDelay time.Duration
	// RegistrationDelay is how long a licence registration stays
	// IN_PROGRESS before it completes (default 2s; Faults can override it).
	RegistrationDelay time.Duration
	// UnlicensedNodeLimit is how many nodes may run while the controller is
	// not registered (default 5, CML's free tier; negative = unlimited).
	UnlicensedNodeLimit int
	// Host sizes the simulated compute host (defaults: an m5zn.metal).
	Host HostSpec
	// Hostname is the controller's host name (default "cml-controller").
	Hostname string
	// MaxTelemetryEvents caps the kept telemetry history (default 10000);
	// the oldest events are dropped first, like a long-running controller
	// rotating its telemetry store.
	MaxTelemetryEvents int
}

// HostSpec is the simulated compute host's capacity.
type HostSpec struct {
	CPUs      int // default 48
	MemoryGiB int // default 192
	DiskGiB   int // default 1000
}

// Faults are injected misbehaviours for tests and demos. The zero value
// injects nothing. They can be changed at any time with SetFaults.
type Faults struct {
	Latency     time.Duration // added before every API response
	ErrorRate   float64       // fraction (0..1) of API requests answered with ErrorStatus
	ErrorStatus int           // status of injected errors (default 503)
	FailNext    int           // the next N API requests fail with ErrorStatus (deterministic)
	// FailPaths restricts ErrorRate/FailNext to requests whose path (after
	// /api/v0) starts with one of these prefixes, e.g. "/labs". Empty = all.
	FailPaths []string
	// TokenTTL makes tokens issued from now on expire after this long
	// (0 = 24 h, as CML's default web session timeout).
	TokenTTL time.Duration
	// NotReady forces system_information.ready=false (a controller whose
	// compute is down); lab starts are refused while it is set.
	NotReady bool
	// Unavailable answers every API request with 502, as the nginx in front
	// of a still-booting or crashed controller does.
	Unavailable bool
	// RegistrationDelay overrides Options.RegistrationDelay for new
	// registrations ("slow registration").
	RegistrationDelay time.Duration
	// RegistrationFails makes new registrations end FAILED.
	RegistrationFails bool
	// DeregistrationTimeout makes deregistration answer 202: done locally,
	// Cisco's licensing service unreachable.
	DeregistrationTimeout bool
}

// Load is what the controller's system_stats reports, in one struct.
type Load struct {
	RunningNodes  int
	TotalNodes    int
	RunningLabs   int
	TotalLabs     int
	CPUPercent    float64
	MemoryPercent float64
	DiskPercent   float64
}

// Sim is a simulated CML controller. It is safe for concurrent use.
type Sim struct {
	opts      Options
	clock     func() time.Time
	log       *slog.Logger
	bootAt    time.Time
	computeID string
	jwtKey    []byte
	mux       *http.ServeMux

	mu     sync.Mutex
	faults Faults
	rng    *mrand.Rand
	st     *state
	tokens map[string]session // token -> session
}

type session struct {
	UserID  string
	Expires time.Time
}

// New builds a simulator. A State that cannot be decoded is logged and
// ignored, so a corrupt save file never keeps a worker from booting.
func New(opts Options) *Sim {
	if opts.Username == "" {
		opts.Username = "admin"
	}
	if opts.Password == "" {
		opts.Password = "admin"
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RegistrationDelay == 0 {
		opts.RegistrationDelay = 2 * time.Second
	}
	if opts.UnlicensedNodeLimit == 0 {
		opts.UnlicensedNodeLimit = 5
	}
	if opts.Host.CPUs == 0 {
		opts.Host.CPUs = 48
	}
	if opts.Host.MemoryGiB == 0 {
		opts.Host.MemoryGiB = 192
	}
	if opts.Host.DiskGiB == 0 {
		opts.Host.DiskGiB = 1000
	}
	if opts.Hostname == "" {
		opts.Hostname = "cml-controller"
	}
	if opts.MaxTelemetryEvents == 0 {
		opts.MaxTelemetryEvents = 10000
	}
	s := &Sim{
		opts:   opts,
		clock:  opts.Clock,
		log:    opts.Logger,
		jwtKey: randomBytes(32),
		tokens: map[string]session{},
		rng:    mrand.New(mrand.NewPCG(uint64(time.Now().UnixNano()), 0x636d6c)),
	}
	s.bootAt = s.clock().Add(opts.BootDelay)
	s.st = newState(opts.Username, opts.Password, s.clock())
	if len(opts.State) > 0 {
		if st, err := decodeState(opts.State); err != nil {
			s.log.Warn("cmlsim: ignoring unreadable saved state", "err", err)
		} else {
			s.st = st
			s.st.ensureAdmin(opts.Username, opts.Password, s.clock())
			// A stopped instance loses its running VMs: nodes that were
			// running come back STOPPED, their disks kept (as after a CML
			// host reboot).
			s.st.powerLoss()
		}
	}
	s.computeID = s.st.ComputeID
	s.mux = s.routes()
	return s
}

// SetFaults replaces the injected faults.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
}

// ExpireTokens invalidates every issued token, as a controller restart or
// an expired web session does; clients must log in again (they get 401).
func (s *Sim) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}

// AddUser creates a (non-admin unless admin is set) user and returns its id.
// Tests use it to produce user activity from a non-system user.
func (s *Sim) AddUser(username, password string, admin bool) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	if u := s.st.userByName(username); u != nil {
		u.Password, u.Admin = password, admin
		return u.ID
	}
	u := &user{ID: newUUID(), Username: username, Password: password, Admin: admin, Created: now}
	s.st.Users = append(s.st.Users, u)
	return u.ID
}

// Load reports the simulated load, the same figures system_stats serves.
func (s *Sim) Load() Load {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.advance(now)
	return s.load()
}

// SaveState serialises labs (with nodes, links and states), licensing,
// users and telemetry, to be passed back as Options.State after an
// instance stop/start.
func (s *Sim) SaveState() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock())
	return encodeState(s.st)
}

// ServeHTTP implements http.Handler.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/api/v0/") {
		writeError(w, http.StatusNotFound, "Not Found")
		return
	}
	s.mu.Lock()
	f := s.faults
	inject := false
	if f.Unavailable {
		inject = true
	} else if matchesFaultPath(f.FailPaths, strings.TrimPrefix(r.URL.Path, "/api/v0")) {
		if f.FailNext > 0 {
			s.faults.FailNext--
			inject = true
		} else if f.ErrorRate > 0 && s.rng.Float64() < f.ErrorRate {
			inject = true
		}
	}
	s.mu.Unlock()

	s.log.Debug("cmlsim: request", "method", r.Method, "path", r.URL.Path, "injected_fault", inject || f.Unavailable)
	if f.Latency > 0 {
		select {
		case <-time.After(f.Latency):
		case <-r.Context().Done():
			return
		}
	}
	if f.Unavailable {
		writeError(w, http.StatusBadGateway, "Bad Gateway")
		return
	}
	if inject {
		status := f.ErrorStatus
		if status == 0 {
			status = http.StatusServiceUnavailable
		}
		writeError(w, status, "Injected fault: "+http.StatusText(status))
		return
	}
	s.mux.ServeHTTP(w, r)
}

func matchesFaultPath(prefixes []string, path string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// ready reports system_information.ready. Callers hold s.mu.
func (s *Sim) ready(now time.Time) bool {
	return !s.faults.NotReady && !now.Before(s.bootAt)
}

// load computes the figures of system_stats. Callers hold s.mu and have
// advanced the state.
//
// The model: a booting VM keeps its vCPUs busy, a booted one idles at about
// a quarter of them; memory is the controller's own 6 GiB plus the RAM of
// running nodes; disk is the base install plus the disk images of nodes that
// have been started and not wiped.
func (s *Sim) load() Load {
	var l Load
	var busyCPUs float64
	var memMiB, diskGiB float64
	for _, lab := range s.st.Labs {
		l.TotalLabs++
		if lab.state() == StateStarted {
			l.RunningLabs++
		}
		for _, n := range lab.Nodes {
			l.TotalNodes++
			spec := nodeSpecFor(n)
			if n.running() {
				l.RunningNodes++
				memMiB += float64(spec.RAM)
				if n.State == NodeBooted {
					busyCPUs += 0.25 * float64(spec.CPUs)
				} else {
					busyCPUs += float64(spec.CPUs)
				}
			}
			if n.State != NodeDefined {
				diskGiB += float64(spec.DiskGiB)
			}
		}
	}
	host := s.opts.Host
	l.CPUPercent = round2(math.Min(100, 1.5+100*busyCPUs/float64(host.CPUs)))
	l.MemoryPercent = round2(math.Min(100, 100*(6*1024+memMiB)/float64(host.MemoryGiB*1024)))
	l.DiskPercent = round2(math.Min(100, 100*(baseDiskGiB+diskGiB)/float64(host.DiskGiB)))
	return l
}

const baseDiskGiB = 25

func round2(f float64) float64 { return math.Round(f*100) / 100 }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}

// newUUID returns a random (version 4) UUID, the id format CML uses and
// the OpenAPI document's UUID4 pattern requires.
func newUUID() string {
	b := randomBytes(16)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
