// Package fleet is the application layer: the one place that combines the
// aggregates (worker, lab, settings) with the cloud, the workers' CML APIs,
// the secret store and the telemetry store. The API calls it for every
// route, and the automation (provisioning, tick, idle auto-pause, wake-ups,
// licence jobs) calls the same methods, so a power change made by a person
// and one made by the idle policy go through the same code.
//
// Commands load the aggregate, let it decide and append through
// eventstore.Repository (retry on conflict in one place), then carry out
// what the recorded decision asks of the outside world (an EC2 call, a
// CML call, a job handed to the automation). Queries read the read models
// and the telemetry store; a worker missing from the read model is looked
// up in the event store, so a client reads its own writes.
//
// The actor and correlation id of every command come from the context
// (event.WithMeta): the API puts the signed-in person there, the
// automation "system:<job>".
package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/cml"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/lab"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	"github.com/cmlcm/cmlcm/internal/secrets"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/telemetry"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// Error classes the API maps to HTTP statuses. Errors of the domain
// (worker.ErrTransition, worker.ErrInvalid, settings.ErrInvalid…) and of the
// stores (eventstore.ErrConflict…) are returned wrapped, not translated:
// callers branch on them with errors.Is as well.
var (
	// ErrNotFound: no such worker or lab (404).
	ErrNotFound = errors.New("not found")
	// ErrInvalid: the request is malformed (400).
	ErrInvalid = errors.New("invalid request")
	// ErrConflict: the request cannot be carried out in the current state,
	// e.g. a lab operation on a stopped worker (409).
	ErrConflict = errors.New("conflict")
	// ErrUpstream: EC2, CML or the automation failed (502). When the
	// intent was already recorded the error says so.
	ErrUpstream = errors.New("upstream failure")
	// ErrUnavailable: a collaborator is not configured in this deployment
	// (503).
	ErrUnavailable = errors.New("not available")
)

// Error is a classified error with a message for people.
type Error struct {
	Kind   error  // one of the classes above
	Field  string // the request field at fault, for ErrInvalid
	Reason string
	Err    error // the cause, if any
}

func (e *Error) Error() string {
	msg := e.Reason
	if e.Field != "" {
		msg = e.Field + " " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap exposes the class and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

func invalid(field, reason string) error {
	return &Error{Kind: ErrInvalid, Field: field, Reason: reason}
}

func notFound(format string, args ...any) error {
	return &Error{Kind: ErrNotFound, Reason: fmt.Sprintf(format, args...)}
}

func upstream(reason string, err error) error {
	return &Error{Kind: ErrUpstream, Reason: reason, Err: err}
}

// Interfaces the automation implements.

// Provisioner starts the provisioning workflow of a worker that Create
// recorded (Step Functions in production, the in-process runner locally).
// It must return quickly: the workflow runs on its own and records its
// progress on the worker.
type Provisioner interface {
	StartProvisioning(ctx context.Context, workerID string) error
}

// Importer is implemented by a Provisioner whose workflow imported
// workers join (at "wait until running"). Import calls it for instances
// that are pending or running.
type Importer interface {
	StartImport(ctx context.Context, workerID string) error
}

// LicenseJobs runs licence registration and deregistration in the
// background. The service has already recorded the start
// (LicenseRegistrationStarted / LicenseDeregistrationStarted); the job
// reads the token with LicenseToken, polls CML, and records the completion
// or failure on the worker.
type LicenseJobs interface {
	StartRegistration(ctx context.Context, workerID string, reregister bool) error
	StartDeregistration(ctx context.Context, workerID string) error
}

// Refresher collects a worker's EC2 and CML facts now (what the tick does
// when a worker is due), in the background.
type Refresher interface {
	Refresh(ctx context.Context, workerID string) error
}

// Interfaces the service uses.

// Cloud is the part of cloud.Cloud the service calls.
type Cloud interface {
	Start(ctx context.Context, region, instanceID string) error
	Stop(ctx context.Context, region, instanceID string) error
	Terminate(ctx context.Context, region, instanceID string) error
	Tag(ctx context.Context, region, instanceID string, set map[string]string, remove []string) error
	Describe(ctx context.Context, region string, ids []string) ([]cloud.Instance, error)
	Discover(ctx context.Context, region string, f cloud.DiscoverFilter) ([]cloud.Instance, error)
}

// Telemetry reads the telemetry store.
type Telemetry interface {
	Series(ctx context.Context, workerID string, from, to time.Time) ([]telemetry.Sample, error)
	Latest(ctx context.Context, workerIDs []string) (map[string]telemetry.Sample, error)
}

// LabClient is the part of a worker's CML API the lab operations use
// (*cml.Client).
type LabClient interface {
	Labs(ctx context.Context) ([]cml.Lab, error)
	Lab(ctx context.Context, id string) (cml.Lab, error)
	ImportLab(ctx context.Context, topologyYAML []byte, title string) (cml.ImportResult, error)
	StartLab(ctx context.Context, id string) error
	StopLab(ctx context.Context, id string) error
	WipeLab(ctx context.Context, id string) error
	DeleteLab(ctx context.Context, id string) error
	DownloadLab(ctx context.Context, id string) ([]byte, error)
}

// CMLDialer returns a client for a worker's CML API.
type CMLDialer func(endpoint string, creds secrets.Credentials) LabClient

// Deps are the service's collaborators. EventStore, ReadModel, Cloud,
// Secrets and Telemetry are required; a missing Provisioner, LicenseJobs or
// Refresher makes the operations that need it answer ErrUnavailable.
type Deps struct {
	EventStore  eventstore.Store
	ReadModel   readmodel.Store
	Cloud       Cloud
	Secrets     secrets.Store
	Telemetry   Telemetry
	Provisioner Provisioner
	LicenseJobs LicenseJobs
	Refresher   Refresher
	// CML dials workers' CML APIs; default *cml.Client with a shared token
	// cache (one login per worker, not one per request).
	CML CMLDialer
	// Environment is the value of the cmlcm:environment tag on imported
	// instances ("" leaves it off).
	Environment string
	Clock       func() time.Time
	Logger      *slog.Logger
	// NewID makes worker ids; default UUIDv7.
	NewID func() string
}

// Service is the fleet's application service. Safe for concurrent use.
type Service struct {
	workers  *eventstore.Repository[*worker.Worker]
	labs     *eventstore.Repository[*lab.Lab]
	settings *eventstore.Repository[*settings.Settings]
	rm       readmodel.Store
	cloud    Cloud
	secrets  secrets.Store
	tm       Telemetry
	prov     Provisioner
	lic      LicenseJobs
	refresh  Refresher
	dial     CMLDialer
	env      string
	now      func() time.Time
	log      *slog.Logger
	newID    func() string
}

// New returns a Service.
func New(d Deps) (*Service, error) {
	switch {
	case d.EventStore == nil, d.ReadModel == nil, d.Cloud == nil, d.Secrets == nil, d.Telemetry == nil:
		return nil, errors.New("fleet: event store, read model, cloud, secrets and telemetry are required")
	}
	if d.Clock == nil {
		d.Clock = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.NewID == nil {
		d.NewID = func() string { return uuid.Must(uuid.NewV7()).String() }
	}
	if d.CML == nil {
		tokens := cml.NewMemoryTokenStore()
		d.CML = func(endpoint string, c secrets.Credentials) LabClient {
			return cml.New(endpoint, cml.WithCredentials(c.Username, c.Password), cml.WithTokenStore(tokens),
				cml.WithTimeout(20*time.Second), cml.WithLogger(d.Logger))
		}
	}
	opts := []eventstore.Option{eventstore.WithClock(d.Clock), eventstore.WithLogger(d.Logger)}
	return &Service{
		workers:  eventstore.NewRepository(d.EventStore, worker.New, opts...),
		labs:     eventstore.NewRepository(d.EventStore, lab.New, opts...),
		settings: eventstore.NewRepository(d.EventStore, settings.New, opts...),
		rm:       d.ReadModel, cloud: d.Cloud, secrets: d.Secrets, tm: d.Telemetry,
		prov: d.Provisioner, lic: d.LicenseJobs, refresh: d.Refresher, dial: d.CML,
		env: d.Environment, now: d.Clock, log: d.Logger, newID: d.NewID,
	}, nil
}

// SetAutomation installs the automation's collaborators after
// construction (the automation needs the service, the service needs the
// automation). Nil arguments leave the current value.
func (s *Service) SetAutomation(p Provisioner, l LicenseJobs, r Refresher) {
	if p != nil {
		s.prov = p
	}
	if l != nil {
		s.lic = l
	}
	if r != nil {
		s.refresh = r
	}
}

// Workers is the worker repository, for the automation's own commands
// (observations, provisioning steps, licence completions).
func (s *Service) Workers() *eventstore.Repository[*worker.Worker] { return s.workers }

// LicenseToken returns the licence token stored for a worker (for the
// licence job); secrets.ErrNotFound when none.
func (s *Service) LicenseToken(ctx context.Context, workerID string) (string, error) {
	return s.secrets.Get(ctx, secrets.LicenseTokenName(workerID))
}

// loadWorker loads a worker that exists and was not removed.
func (s *Service) loadWorker(ctx context.Context, id string) (*worker.Worker, error) {
	w, err := s.workers.Load(ctx, id)
	if errors.Is(err, eventstore.ErrNotFound) || (err == nil && (!w.Exists() || w.Removed())) {
		return nil, notFound("worker %s does not exist", id)
	}
	if err != nil {
		return nil, err
	}
	return w, nil
}

// update runs a worker command; an unknown id is ErrNotFound.
func (s *Service) update(ctx context.Context, id string, decide func(*worker.Worker) error) (*worker.Worker, error) {
	w, err := s.workers.Update(ctx, id, decide)
	if errors.Is(err, eventstore.ErrNotFound) || errors.Is(err, worker.ErrRemoved) || errors.Is(err, worker.ErrNotCreated) {
		return nil, notFound("worker %s does not exist", id)
	}
	return w, err
}

// loadSettings returns the fleet settings (the defaults before any update).
func (s *Service) loadSettings(ctx context.Context) (*settings.Settings, error) {
	st, err := s.settings.Load(ctx, settings.ID)
	if errors.Is(err, eventstore.ErrNotFound) {
		return settings.New(settings.ID), nil
	}
	return st, err
}
