package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/idle"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	"github.com/cmlcm/cmlcm/internal/secrets"
	"github.com/cmlcm/cmlcm/internal/telemetry"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// Listing limits.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
	// MaxMetricsRange bounds GET /workers/{id}/metrics (charts show up to 7 days).
	MaxMetricsRange = 31 * 24 * time.Hour
	// MaxLicenseTokenLength bounds a licence token (Cisco's are ~200 characters).
	MaxLicenseTokenLength = 4096
)

func pageSize(limit int) (int, error) {
	switch {
	case limit == 0:
		return DefaultPageSize, nil
	case limit < 0 || limit > MaxPageSize:
		return 0, invalid("limit", fmt.Sprintf("must be between 1 and %d", MaxPageSize))
	}
	return limit, nil
}

func badCursor(err error) error {
	if errors.Is(err, readmodel.ErrBadCursor) {
		return &Error{Kind: ErrInvalid, Field: "cursor", Reason: "is not a cursor this API issued", Err: err}
	}
	return err
}

// ListWorkers returns a page of workers ordered by name.
func (s *Service) ListWorkers(ctx context.Context, f readmodel.WorkerFilter, cursor string, limit int) (Page[Worker], error) {
	n, err := pageSize(limit)
	if err != nil {
		return Page[Worker]{}, err
	}
	if f.Status != "" && !slices.Contains(worker.Statuses, worker.Status(f.Status)) {
		return Page[Worker]{}, invalid("status", fmt.Sprintf("%q is not a worker status", f.Status))
	}
	rows, next, err := s.rm.ListWorkers(ctx, f, cursor, n)
	if err != nil {
		return Page[Worker]{}, badCursor(err)
	}
	views := make([]worker.View, 0, len(rows))
	for _, r := range rows {
		v, err := decodeView(r)
		if err != nil {
			return Page[Worker]{}, err
		}
		views = append(views, v)
	}
	items, err := s.present(ctx, views)
	if err != nil {
		return Page[Worker]{}, err
	}
	return Page[Worker]{Items: items, Next: next}, nil
}

// GetWorker returns a worker from the read model, or from the event store
// when the read model has not caught up yet (a client reads its writes).
func (s *Service) GetWorker(ctx context.Context, id string) (Worker, error) {
	row, err := s.rm.GetWorker(ctx, id)
	if err == nil {
		v, err := decodeView(row)
		if err != nil {
			return Worker{}, err
		}
		out, err := s.present(ctx, []worker.View{v})
		if err != nil {
			return Worker{}, err
		}
		return out[0], nil
	}
	if !errors.Is(err, readmodel.ErrNotFound) {
		return Worker{}, err
	}
	w, err := s.loadWorker(ctx, id)
	if err != nil {
		return Worker{}, err
	}
	return s.presentOne(ctx, w)
}

// Event is one entry of a worker's audit history: the event envelope.
type Event = json.RawMessage

// WorkerEvents pages a worker's history, newest first. A removed worker's
// history stays readable.
func (s *Service) WorkerEvents(ctx context.Context, id, cursor string, limit int) (Page[Event], error) {
	n, err := pageSize(limit)
	if err != nil {
		return Page[Event]{}, err
	}
	w, err := s.workers.Load(ctx, id)
	if errors.Is(err, eventstore.ErrNotFound) || (err == nil && !w.Exists()) {
		return Page[Event]{}, notFound("worker %s does not exist", id)
	}
	if err != nil {
		return Page[Event]{}, err
	}
	rows, next, err := s.rm.ListActivity(ctx, id, cursor, n)
	if err != nil {
		return Page[Event]{}, badCursor(err)
	}
	items := make([]Event, len(rows))
	for i, r := range rows {
		items[i] = r.Doc
	}
	return Page[Event]{Items: items, Next: next}, nil
}

// Metrics returns a worker's telemetry in [from, to]; zero times default
// to the last hour.
func (s *Service) Metrics(ctx context.Context, id string, from, to time.Time) ([]telemetry.Sample, error) {
	if to.IsZero() {
		to = s.now()
	}
	if from.IsZero() {
		from = to.Add(-time.Hour)
	}
	switch {
	case to.Before(from):
		return nil, invalid("to", "is before from")
	case to.Sub(from) > MaxMetricsRange:
		return nil, invalid("from", fmt.Sprintf("the range may cover at most %d days", int(MaxMetricsRange/(24*time.Hour))))
	}
	if _, err := s.GetWorker(ctx, id); err != nil {
		return nil, err
	}
	return s.tm.Series(ctx, id, from, to)
}

// CreateRequest is the input of Create.
type CreateRequest struct {
	Name         string            `json:"name"`
	Region       string            `json:"region"`
	InstanceType string            `json:"instanceType"` // "" takes the settings' default
	AMIID        string            `json:"amiId"`        // "" (with no amiName) takes the region's AMI from the settings
	AMIName      string            `json:"amiName"`
	Tags         map[string]string `json:"tags"`
	IdlePolicy   *idle.Policy      `json:"idlePolicy"`
	Schedule     *worker.Schedule  `json:"schedule"`
	// LicenseToken goes to the secret store; the worker only records that
	// one is configured.
	LicenseToken string `json:"licenseToken"`
}

func checkToken(token string) error {
	switch {
	case len(token) > MaxLicenseTokenLength:
		return invalid("licenseToken", fmt.Sprintf("is longer than %d characters", MaxLicenseTokenLength))
	case strings.ContainsFunc(token, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		return invalid("licenseToken", "must not contain spaces or control characters")
	}
	return nil
}

// Create records a new worker from the request and the fleet settings,
// then hands it to the provisioning workflow. It returns the worker as it
// stands (status provisioning).
func (s *Service) Create(ctx context.Context, req CreateRequest) (Worker, error) {
	if s.prov == nil {
		return Worker{}, &Error{Kind: ErrUnavailable, Reason: "provisioning is not available in this deployment"}
	}
	st, err := s.loadSettings(ctx)
	if err != nil {
		return Worker{}, err
	}
	vals := st.Values()
	spec := worker.CreateSpec{Name: req.Name, Region: strings.TrimSpace(req.Region), InstanceType: strings.TrimSpace(req.InstanceType),
		AMIID: strings.TrimSpace(req.AMIID), AMIName: strings.TrimSpace(req.AMIName), Tags: req.Tags,
		IdlePolicy: req.IdlePolicy, Schedule: req.Schedule}
	if spec.Region == "" {
		return Worker{}, invalid("region", "is required")
	}
	if spec.InstanceType == "" {
		spec.InstanceType = vals.Provisioning.InstanceType
	}
	if spec.AMIID == "" && spec.AMIName == "" {
		ami, ok := vals.AMIFor(spec.Region)
		if !ok {
			return Worker{}, invalid("amiId", fmt.Sprintf("or amiName is required: the settings name no AMI for %s", spec.Region))
		}
		spec.AMIID, spec.AMIName = ami.ID, ami.Name
	}
	token := strings.TrimSpace(req.LicenseToken)
	if err := checkToken(token); err != nil {
		return Worker{}, err
	}
	id := s.newID()
	if token != "" {
		// The token is stored first so the workflow finds it; a failed
		// create removes it again.
		if err := s.secrets.Put(ctx, secrets.LicenseTokenName(id), token); err != nil {
			return Worker{}, fmt.Errorf("store the licence token: %w", err)
		}
		spec.LicenseTokenConfigured = true
	}
	w, err := s.workers.Create(ctx, id, func(w *worker.Worker) error { return w.Create(spec) })
	if err != nil {
		if token != "" {
			if derr := s.secrets.Delete(ctx, secrets.LicenseTokenName(id)); derr != nil {
				s.log.ErrorContext(ctx, "remove the licence token of a worker not created", "worker", id, "err", derr)
			}
		}
		return Worker{}, err
	}
	if err := s.prov.StartProvisioning(ctx, id); err != nil {
		s.log.ErrorContext(ctx, "start provisioning", "worker", id, "err", err)
		// The worker must not sit in "provisioning" with no workflow.
		if _, ferr := s.workers.Update(ctx, id, func(w *worker.Worker) error {
			return w.ProvisioningFailed("start", "the provisioning workflow could not be started: "+err.Error())
		}); ferr != nil {
			s.log.ErrorContext(ctx, "record the provisioning failure", "worker", id, "err", ferr)
		}
		return Worker{}, upstream("the worker "+id+" was recorded but its provisioning could not start", err)
	}
	return s.presentOne(ctx, w)
}

// ImportRequest selects instances to import: one by id, or all the
// region's instances matching a tag and/or an AMI name pattern.
type ImportRequest struct {
	Region     string `json:"region"`
	InstanceID string `json:"instanceId"`
	// Name names the worker imported by instance id ("" uses the
	// instance's Name tag).
	Name           string       `json:"name"`
	TagKey         string       `json:"tagKey"`
	TagValue       string       `json:"tagValue"` // "" matches any value of tagKey
	AMINamePattern string       `json:"amiNamePattern"`
	IdlePolicy     *idle.Policy `json:"idlePolicy"`
	// Preview returns what would be imported without importing.
	Preview bool `json:"preview"`
}

// Candidate is an instance an import found.
type Candidate struct {
	InstanceID   string            `json:"instanceId"`
	Name         string            `json:"name"`
	State        string            `json:"state"`
	InstanceType string            `json:"instanceType"`
	AMIID        string            `json:"amiId"`
	PublicIP     string            `json:"publicIp"`
	Tags         map[string]string `json:"tags"`
}

// Skipped is an instance an import left out, and why.
type Skipped struct {
	InstanceID string `json:"instanceId"`
	Reason     string `json:"reason"`
	WorkerID   string `json:"workerId,omitempty"` // the worker that already has it
}

// ImportResult says what an import did (or, in preview, would do).
type ImportResult struct {
	Preview    bool        `json:"preview"`
	Candidates []Candidate `json:"candidates"` // what is (or would be) imported
	Imported   []Worker    `json:"imported"`
	Skipped    []Skipped   `json:"skipped"`
}

// Import records workers for existing instances.
func (s *Service) Import(ctx context.Context, req ImportRequest) (ImportResult, error) {
	res := ImportResult{Preview: req.Preview, Candidates: []Candidate{}, Imported: []Worker{}, Skipped: []Skipped{}}
	region := strings.TrimSpace(req.Region)
	if region == "" {
		return res, invalid("region", "is required")
	}
	byID := req.InstanceID != ""
	switch {
	case byID && (req.TagKey != "" || req.AMINamePattern != ""):
		return res, invalid("instanceId", "excludes tagKey and amiNamePattern")
	case !byID && req.TagKey == "" && req.AMINamePattern == "":
		return res, invalid("instanceId", "or tagKey or amiNamePattern is required")
	case req.TagValue != "" && req.TagKey == "":
		return res, invalid("tagKey", "is required with tagValue")
	case !byID && req.Name != "":
		return res, invalid("name", "is only used with instanceId")
	}
	var found []cloud.Instance
	var err error
	if byID {
		found, err = s.cloud.Describe(ctx, region, []string{req.InstanceID})
		if err == nil && len(found) == 0 {
			return res, notFound("instance %s does not exist in %s", req.InstanceID, region)
		}
	} else {
		f := cloud.DiscoverFilter{AMINamePattern: req.AMINamePattern}
		if req.TagKey != "" {
			f.Tags = map[string]string{req.TagKey: req.TagValue}
		}
		found, err = s.cloud.Discover(ctx, region, f)
	}
	if errors.Is(err, cloud.ErrInvalidConfig) {
		return res, &Error{Kind: ErrInvalid, Reason: "EC2 refused the search", Err: err}
	}
	if err != nil {
		return res, upstream("EC2 describe failed", err)
	}
	for _, in := range found {
		if in.State == cloud.StateShuttingDown || in.State == cloud.StateTerminated {
			res.Skipped = append(res.Skipped, Skipped{InstanceID: in.ID, Reason: "the instance is " + string(in.State)})
			continue
		}
		if row, err := s.rm.WorkerByInstance(ctx, in.ID); err == nil {
			res.Skipped = append(res.Skipped, Skipped{InstanceID: in.ID, Reason: "already a worker", WorkerID: row.ID})
			continue
		}
		name := req.Name
		if name == "" {
			name = in.Tags[cloud.TagName]
		}
		if name == "" {
			name = "worker-" + in.ID
		}
		c := Candidate{InstanceID: in.ID, Name: name, State: string(in.State), InstanceType: in.InstanceType,
			AMIID: in.AMIID, PublicIP: in.PublicIP, Tags: userTags(in.Tags)}
		if req.Preview {
			res.Candidates = append(res.Candidates, c)
			continue
		}
		w, skip, err := s.importOne(ctx, region, name, in, req.IdlePolicy)
		switch {
		case err != nil && (errors.Is(err, worker.ErrInvalid) || errors.Is(err, ErrInvalid)):
			if byID {
				return res, err
			}
			res.Skipped = append(res.Skipped, Skipped{InstanceID: in.ID, Reason: err.Error()})
		case err != nil:
			return res, err
		case skip != nil:
			res.Skipped = append(res.Skipped, *skip)
		default:
			res.Candidates = append(res.Candidates, c)
			res.Imported = append(res.Imported, w)
		}
	}
	if byID && len(res.Imported) == 0 && !req.Preview && len(res.Skipped) > 0 {
		sk := res.Skipped[0]
		return res, &Error{Kind: ErrConflict, Reason: fmt.Sprintf("instance %s cannot be imported: %s", sk.InstanceID, sk.Reason)}
	}
	return res, nil
}

// importWorkerID is the id of the worker for an instance: the instance's
// cmlcm:worker-id tag when it names no existing worker (an orphan of ours
// comes back under its id), else one derived from the instance id, so two
// concurrent imports of one instance collide on the same id instead of
// creating two workers; a fresh id when that one was used by a worker
// since removed.
func (s *Service) importWorkerID(ctx context.Context, in cloud.Instance) (string, bool, error) {
	candidates := []string{}
	if tagged := in.WorkerID(); tagged != "" {
		candidates = append(candidates, tagged)
	}
	candidates = append(candidates, derivedID(in.ID))
	for _, id := range candidates {
		w, err := s.workers.Load(ctx, id)
		switch {
		case errors.Is(err, eventstore.ErrNotFound):
			return id, true, nil
		case err != nil:
			return "", false, err
		case w.Exists() && !w.Removed() && w.InstanceID() == in.ID:
			return id, false, nil // already imported (the read model lags)
		}
	}
	return s.newID(), true, nil
}

func (s *Service) importOne(ctx context.Context, region, name string, in cloud.Instance, policy *idle.Policy) (Worker, *Skipped, error) {
	id, fresh, err := s.importWorkerID(ctx, in)
	if err != nil {
		return Worker{}, nil, err
	}
	if !fresh {
		return Worker{}, &Skipped{InstanceID: in.ID, Reason: "already a worker", WorkerID: id}, nil
	}
	_, tokenErr := s.secrets.Get(ctx, secrets.LicenseTokenName(id))
	spec := worker.ImportSpec{Name: name, Region: region, InstanceID: in.ID, InstanceType: in.InstanceType,
		// EC2's notifications have second precision: a describe stamped
		// with a finer time would make a notification of the same second
		// look older than it and be ignored.
		AMIID: in.AMIID, Tags: in.Tags, State: worker.EC2State(in.State), ObservedAt: s.now().Truncate(time.Second),
		PublicIP: in.PublicIP, PrivateIP: in.PrivateIP, Endpoint: in.CMLURL(), IdlePolicy: policy,
		LicenseTokenConfigured: tokenErr == nil}
	w, err := s.workers.Create(ctx, id, func(w *worker.Worker) error { return w.Import(spec) })
	if errors.Is(err, eventstore.ErrConflict) {
		return Worker{}, &Skipped{InstanceID: in.ID, Reason: "already a worker", WorkerID: id}, nil
	}
	if err != nil {
		return Worker{}, nil, err
	}
	// Our managed tags make the instance ours for the EC2 state-change
	// handler and discovery.
	set := map[string]string{cloud.TagManaged: "true", cloud.TagWorkerID: id}
	if s.env != "" {
		set[cloud.TagEnvironment] = s.env
	}
	if err := s.cloud.Tag(ctx, region, in.ID, set, nil); err != nil {
		s.log.WarnContext(ctx, "tag imported instance", "worker", id, "instance", in.ID, "err", err)
	}
	if imp, ok := s.prov.(Importer); ok && (in.State == cloud.StatePending || in.State == cloud.StateRunning) {
		if err := imp.StartImport(ctx, id); err != nil {
			s.log.WarnContext(ctx, "imported worker could not join the workflow", "worker", id, "err", err)
		}
	}
	out, err := s.presentOne(ctx, w)
	return out, nil, err
}

// derivedID is a stable worker id for an instance (UUIDv5 of the id).
func derivedID(instanceID string) string {
	return uuidSHA1("cmlcm:instance:" + instanceID)
}

// userTags drops the reserved keys (ours, AWS's, Name).
func userTags(tags map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range tags {
		l := strings.ToLower(k)
		if !strings.HasPrefix(l, worker.ManagedTagPrefix) && !strings.HasPrefix(l, "aws:") && k != cloud.TagName {
			out[k] = v
		}
	}
	return out
}

// PowerOptions qualify a start or stop.
type PowerOptions struct {
	Reason string
	// Auto marks the automation's requests (scheduled wake-ups, idle
	// auto-pauses): counted apart from people's.
	Auto bool
	// IdleMinutes, on a stop, makes it an idle auto-pause: the worker
	// re-checks its own activity record and records the idle minutes
	// (worker.AutoPause). Implies Auto.
	IdleMinutes int
}

// Start records the intent to run the worker and, when the worker was
// stopped, asks EC2 to start it. A start of a stopping worker is recorded
// and deferred (the reconciler starts it once stopped). If EC2 fails, the
// intent stays recorded (the next EC2 observation and the reconciler
// converge) and the error says so.
func (s *Service) Start(ctx context.Context, id string, o PowerOptions) (Worker, error) {
	var from worker.Status
	w, err := s.update(ctx, id, func(w *worker.Worker) error {
		from = w.Status()
		return w.RequestStart(o.Reason, o.Auto)
	})
	if err != nil {
		return Worker{}, err
	}
	if from == worker.StatusStopped {
		if err := s.cloud.Start(ctx, w.Region(), w.InstanceID()); err != nil {
			return Worker{}, upstream("the start was recorded but EC2 StartInstances failed", err)
		}
	}
	return s.presentOne(ctx, w)
}

// Stop records the intent to stop the worker and, when it was running,
// asks EC2 to stop it (a stop of a pending worker is deferred).
func (s *Service) Stop(ctx context.Context, id string, o PowerOptions) (Worker, error) {
	var from worker.Status
	w, err := s.update(ctx, id, func(w *worker.Worker) error {
		from = w.Status()
		if o.IdleMinutes > 0 {
			return w.AutoPause(o.IdleMinutes)
		}
		return w.RequestStop(o.Reason, o.Auto)
	})
	if err != nil {
		return Worker{}, err
	}
	if from == worker.StatusRunning {
		if err := s.cloud.Stop(ctx, w.Region(), w.InstanceID()); err != nil {
			return Worker{}, upstream("the stop was recorded but EC2 StopInstances failed", err)
		}
	}
	return s.presentOne(ctx, w)
}

// Terminate records the termination request and asks EC2 to terminate the
// instance, if there is one. The worker stays in the fleet as terminated
// (its history remains) until it is removed.
func (s *Service) Terminate(ctx context.Context, id, reason string) (Worker, error) {
	w, err := s.update(ctx, id, func(w *worker.Worker) error { return w.RequestTerminate(reason) })
	if err != nil {
		return Worker{}, err
	}
	if w.InstanceID() != "" && w.Status() == worker.StatusShuttingDown {
		if err := s.cloud.Terminate(ctx, w.Region(), w.InstanceID()); err != nil {
			return Worker{}, upstream("the termination was recorded but EC2 TerminateInstances failed", err)
		}
	}
	return s.presentOne(ctx, w)
}

// Remove takes the worker out of the fleet without touching its instance,
// and forgets its licence token.
func (s *Service) Remove(ctx context.Context, id, reason string) error {
	if _, err := s.update(ctx, id, func(w *worker.Worker) error { return w.Remove(reason) }); err != nil {
		return err
	}
	if err := s.secrets.Delete(ctx, secrets.LicenseTokenName(id)); err != nil {
		s.log.WarnContext(ctx, "remove the licence token of a removed worker", "worker", id, "err", err)
	}
	return nil
}

// SetTags replaces the worker's user tags, on the worker and on its
// instance (managed cmlcm:* tags cannot be set and are never removed).
func (s *Service) SetTags(ctx context.Context, id string, tags map[string]string) (Worker, error) {
	var old map[string]string
	w, err := s.update(ctx, id, func(w *worker.Worker) error {
		old = w.Tags()
		return w.SetTags(tags)
	})
	if err != nil {
		return Worker{}, err
	}
	if w.InstanceID() != "" && w.EC2State() != worker.EC2Terminated && !maps.Equal(old, tags) {
		var remove []string
		for k := range old {
			if _, ok := tags[k]; !ok {
				remove = append(remove, k)
			}
		}
		slices.Sort(remove)
		if err := s.cloud.Tag(ctx, w.Region(), w.InstanceID(), tags, remove); err != nil {
			return Worker{}, upstream("the tags were recorded but EC2 tagging failed", err)
		}
	}
	return s.presentOne(ctx, w)
}

// SetIdlePolicy sets the worker's own idle policy; nil follows the fleet's.
func (s *Service) SetIdlePolicy(ctx context.Context, id string, p *idle.Policy) (Worker, error) {
	w, err := s.update(ctx, id, func(w *worker.Worker) error { return w.SetIdlePolicy(p) })
	if err != nil {
		return Worker{}, err
	}
	return s.presentOne(ctx, w)
}

// SetSchedule sets the wake-up schedule; nil clears it.
func (s *Service) SetSchedule(ctx context.Context, id string, sch *worker.Schedule) (Worker, error) {
	w, err := s.update(ctx, id, func(w *worker.Worker) error { return w.SetSchedule(sch) })
	if err != nil {
		return Worker{}, err
	}
	return s.presentOne(ctx, w)
}

// RegisterLicense records the start of a licence registration (storing a
// new token first when one is given) and hands the job to the automation.
func (s *Service) RegisterLicense(ctx context.Context, id, token string, reregister bool) (Worker, error) {
	if s.lic == nil {
		return Worker{}, &Error{Kind: ErrUnavailable, Reason: "licence jobs are not available in this deployment"}
	}
	token = strings.TrimSpace(token)
	if err := checkToken(token); err != nil {
		return Worker{}, err
	}
	w, err := s.update(ctx, id, func(w *worker.Worker) error {
		if token != "" {
			if err := w.SetLicenseTokenConfigured(true); err != nil {
				return err
			}
		}
		if err := w.StartLicenseRegistration(reregister); err != nil {
			return err
		}
		if token != "" {
			// Only once the worker accepts the registration, so a refused
			// request does not replace the stored token. Idempotent, so a
			// retried decision may repeat it.
			if err := s.secrets.Put(ctx, secrets.LicenseTokenName(id), token); err != nil {
				return fmt.Errorf("store the licence token: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return Worker{}, err
	}
	if err := s.lic.StartRegistration(ctx, id, reregister); err != nil {
		s.failLicense(ctx, id, true, err)
		return Worker{}, upstream("the licence registration could not be started", err)
	}
	return s.presentOne(ctx, w)
}

// DeregisterLicense records the start of a deregistration and hands the
// job to the automation. The stored token is kept for a later registration.
func (s *Service) DeregisterLicense(ctx context.Context, id string) (Worker, error) {
	if s.lic == nil {
		return Worker{}, &Error{Kind: ErrUnavailable, Reason: "licence jobs are not available in this deployment"}
	}
	w, err := s.update(ctx, id, func(w *worker.Worker) error { return w.StartLicenseDeregistration() })
	if err != nil {
		return Worker{}, err
	}
	if err := s.lic.StartDeregistration(ctx, id); err != nil {
		s.failLicense(ctx, id, false, err)
		return Worker{}, upstream("the licence deregistration could not be started", err)
	}
	return s.presentOne(ctx, w)
}

// failLicense closes a licence operation whose job never started, so the
// worker is not left "registering" until the operation times out.
func (s *Service) failLicense(ctx context.Context, id string, register bool, cause error) {
	msg := "the licence job could not be started: " + cause.Error()
	_, err := s.workers.Update(ctx, id, func(w *worker.Worker) error {
		if register {
			return w.FailLicenseRegistration(msg, "dispatch")
		}
		return w.FailLicenseDeregistration(msg)
	})
	if err != nil {
		s.log.ErrorContext(ctx, "record the licence job failure", "worker", id, "err", err)
	}
}

// Refresh asks the automation to collect the worker's facts now.
func (s *Service) Refresh(ctx context.Context, id string) (Worker, error) {
	if s.refresh == nil {
		return Worker{}, &Error{Kind: ErrUnavailable, Reason: "refresh is not available in this deployment"}
	}
	w, err := s.loadWorker(ctx, id)
	if err != nil {
		return Worker{}, err
	}
	if w.Status() == worker.StatusTerminated {
		return Worker{}, &Error{Kind: ErrConflict, Reason: "a terminated worker has nothing to refresh"}
	}
	if err := s.refresh.Refresh(ctx, id); err != nil {
		return Worker{}, upstream("the refresh could not be started", err)
	}
	return s.presentOne(ctx, w)
}
