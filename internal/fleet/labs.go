package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/cmlcm/cmlcm/internal/cml"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/lab"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	"github.com/cmlcm/cmlcm/internal/secrets"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// MaxTopologySize bounds an imported topology YAML (CML's own limit is
// larger, but a lab definition of several MB is already unusual).
const MaxTopologySize = 8 << 20

// LabAction is a lab state operation.
type LabAction string

// Lab actions.
const (
	LabStart LabAction = "start"
	LabStop  LabAction = "stop"
	LabWipe  LabAction = "wipe"
)

var labIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$`)

func checkLabID(id string) error {
	if !labIDRE.MatchString(id) {
		return invalid("labId", fmt.Sprintf("%q is not a lab id", id))
	}
	return nil
}

// ListLabs returns the worker's lab records.
func (s *Service) ListLabs(ctx context.Context, workerID string) ([]Lab, error) {
	if _, err := s.GetWorker(ctx, workerID); err != nil {
		return nil, err
	}
	rows, err := s.rm.ListLabs(ctx, workerID)
	if err != nil {
		return nil, err
	}
	out := make([]Lab, 0, len(rows))
	for _, r := range rows {
		v, err := decodeLab(r)
		if err != nil {
			return nil, err
		}
		out = append(out, labOf(v))
	}
	return out, nil
}

// GetLab returns one lab record.
func (s *Service) GetLab(ctx context.Context, workerID, labID string) (Lab, error) {
	if err := checkLabID(labID); err != nil {
		return Lab{}, notFound("lab %s does not exist", labID)
	}
	if _, err := s.GetWorker(ctx, workerID); err != nil {
		return Lab{}, err
	}
	row, err := s.rm.GetLab(ctx, workerID, labID)
	if errors.Is(err, readmodel.ErrNotFound) {
		// The read model may lag behind a lab we just imported.
		l, lerr := s.labs.Load(ctx, lab.ID(workerID, labID))
		if lerr != nil || !l.Exists() || l.Removed() {
			return Lab{}, notFound("lab %s does not exist on worker %s", labID, workerID)
		}
		return labOf(l.View()), nil
	}
	if err != nil {
		return Lab{}, err
	}
	v, err := decodeLab(row)
	if err != nil {
		return Lab{}, err
	}
	return labOf(v), nil
}

func decodeLab(r readmodel.Lab) (lab.View, error) {
	var v lab.View
	if err := json.Unmarshal(r.Doc, &v); err != nil {
		return v, fmt.Errorf("decode lab row %s/%s: %w", r.WorkerID, r.LabID, err)
	}
	return v, nil
}

// labClient checks the worker can answer lab operations and dials its CML.
func (s *Service) labClient(ctx context.Context, workerID string) (*worker.Worker, LabClient, error) {
	w, err := s.loadWorker(ctx, workerID)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case w.Status() != worker.StatusRunning:
		return nil, nil, &Error{Kind: ErrConflict, Reason: fmt.Sprintf("the worker is %s: lab operations need it running", w.Status())}
	case w.Endpoint() == "":
		return nil, nil, &Error{Kind: ErrConflict, Reason: "the worker's CML endpoint is not known yet"}
	}
	creds, err := secrets.CMLCredentials(ctx, s.secrets, workerID)
	if err != nil {
		return nil, nil, &Error{Kind: ErrUnavailable, Reason: "no CML credentials are configured", Err: err}
	}
	return w, s.dial(w.Endpoint(), creds), nil
}

// cmlError classifies a CML failure of a lab operation.
func cmlError(op string, err error) error {
	switch {
	case errors.Is(err, cml.ErrNotFound):
		return &Error{Kind: ErrNotFound, Reason: "CML has no such lab", Err: err}
	case errors.Is(err, cml.ErrBadRequest), errors.Is(err, cml.ErrConflict):
		// CML refuses operations the lab's state forbids (wipe a running
		// lab, delete one not wiped): an illegal transition.
		return &Error{Kind: ErrConflict, Reason: "CML refused to " + op + " the lab", Err: err}
	}
	return upstream("CML failed to "+op+" the lab", err)
}

// recordActivity notes a lab operation made through the API as activity on
// the worker (it resets the idle clock). Best effort: the operation is done.
func (s *Service) recordActivity(ctx context.Context, workerID, source string) {
	if _, err := s.workers.Update(ctx, workerID, func(w *worker.Worker) error {
		return w.RecordActivity(s.now(), source)
	}); err != nil {
		s.log.WarnContext(ctx, "record lab activity", "worker", workerID, "err", err)
	}
}

// LabOperation runs start, stop or wipe on a lab through the worker's CML
// API and records what CML then reports of the lab.
func (s *Service) LabOperation(ctx context.Context, workerID, labID string, action LabAction) (Lab, error) {
	if err := checkLabID(labID); err != nil {
		return Lab{}, notFound("lab %s does not exist", labID)
	}
	if !slices.Contains([]LabAction{LabStart, LabStop, LabWipe}, action) {
		return Lab{}, invalid("action", fmt.Sprintf("%q is not start, stop or wipe", action))
	}
	_, c, err := s.labClient(ctx, workerID)
	if err != nil {
		return Lab{}, err
	}
	op := map[LabAction]func(context.Context, string) error{LabStart: c.StartLab, LabStop: c.StopLab, LabWipe: c.WipeLab}[action]
	if err := op(ctx, labID); err != nil {
		return Lab{}, cmlError(string(action), err)
	}
	s.recordActivity(ctx, workerID, "api:lab-"+string(action))
	return s.observeFromCML(ctx, workerID, c, labID)
}

// observeFromCML reads the lab from CML and records it.
func (s *Service) observeFromCML(ctx context.Context, workerID string, c LabClient, labID string) (Lab, error) {
	at := s.now()
	l, err := c.Lab(ctx, labID)
	if err != nil {
		return Lab{}, cmlError("read", err)
	}
	v, err := s.ObserveLab(ctx, workerID, l, at)
	if err != nil {
		return Lab{}, err
	}
	return labOf(v), nil
}

// DeleteLab deletes the lab on the worker's CML and its record.
func (s *Service) DeleteLab(ctx context.Context, workerID, labID string) error {
	if err := checkLabID(labID); err != nil {
		return notFound("lab %s does not exist", labID)
	}
	_, c, err := s.labClient(ctx, workerID)
	if err != nil {
		return err
	}
	if err := c.DeleteLab(ctx, labID); err != nil && !errors.Is(err, cml.ErrNotFound) {
		return cmlError("delete", err)
	} else if errors.Is(err, cml.ErrNotFound) {
		// Gone from CML already: a 404 unless we still had a record.
		if l, rerr := s.labs.Load(ctx, lab.ID(workerID, labID)); rerr != nil || !l.Exists() || l.Removed() {
			return notFound("lab %s does not exist on worker %s", labID, workerID)
		}
	}
	s.recordActivity(ctx, workerID, "api:lab-delete")
	return s.removeLab(ctx, workerID, labID, "deleted through the API")
}

func (s *Service) removeLab(ctx context.Context, workerID, labID, reason string) error {
	_, err := s.labs.Update(ctx, lab.ID(workerID, labID), func(l *lab.Lab) error {
		if !l.Exists() || l.Removed() {
			return nil
		}
		return l.Remove(reason)
	})
	if errors.Is(err, eventstore.ErrNotFound) {
		return nil
	}
	return err
}

// ImportLab imports a topology YAML on the worker's CML and records the new lab.
func (s *Service) ImportLab(ctx context.Context, workerID string, topology []byte, title string) (Lab, error) {
	if len(strings.TrimSpace(string(topology))) == 0 {
		return Lab{}, invalid("topology", "is empty")
	}
	if len(topology) > MaxTopologySize {
		return Lab{}, invalid("topology", fmt.Sprintf("is larger than %d bytes", MaxTopologySize))
	}
	if len(title) > lab.MaxTitleLength {
		return Lab{}, invalid("title", fmt.Sprintf("is longer than %d characters", lab.MaxTitleLength))
	}
	_, c, err := s.labClient(ctx, workerID)
	if err != nil {
		return Lab{}, err
	}
	res, err := c.ImportLab(ctx, topology, title)
	if errors.Is(err, cml.ErrBadRequest) {
		return Lab{}, &Error{Kind: ErrInvalid, Field: "topology", Reason: "was refused by CML", Err: err}
	}
	if err != nil {
		return Lab{}, upstream("CML failed to import the lab", err)
	}
	s.recordActivity(ctx, workerID, "api:lab-import")
	return s.observeFromCML(ctx, workerID, c, res.ID)
}

// LabTopology downloads the lab's topology YAML from the worker's CML.
func (s *Service) LabTopology(ctx context.Context, workerID, labID string) ([]byte, error) {
	if err := checkLabID(labID); err != nil {
		return nil, notFound("lab %s does not exist", labID)
	}
	_, c, err := s.labClient(ctx, workerID)
	if err != nil {
		return nil, err
	}
	b, err := c.DownloadLab(ctx, labID)
	if err != nil {
		return nil, cmlError("download", err)
	}
	return b, nil
}

// ObserveLab records a lab as CML reported it at `at` (created on first
// sight). The automation's lab refresh uses it too.
func (s *Service) ObserveLab(ctx context.Context, workerID string, l cml.Lab, at time.Time) (lab.View, error) {
	snap := lab.Snapshot{LabID: l.ID, Title: l.Title, Description: l.Description, State: l.State,
		Owner: l.OwnerUsername, NodeCount: l.NodeCount, LinkCount: l.LinkCount,
		CreatedAt: parseCMLTime(l.Created), ModifiedAt: parseCMLTime(l.Modified), ObservedAt: at}
	if snap.Owner == "" {
		snap.Owner = l.Owner
	}
	id := lab.ID(workerID, l.ID)
	decide := func(a *lab.Lab) error { return a.Observe(snap) }
	a, err := s.labs.Update(ctx, id, decide)
	if errors.Is(err, eventstore.ErrNotFound) {
		a, err = s.labs.Create(ctx, id, decide)
		if errors.Is(err, eventstore.ErrConflict) { // created meanwhile
			a, err = s.labs.Update(ctx, id, decide)
		}
	}
	if err != nil {
		return lab.View{}, err
	}
	return a.View(), nil
}

// SyncLabs brings the worker's lab records in step with its CML: every lab
// CML lists is observed, every record CML no longer lists is removed. The
// automation's lab refresh calls it for running workers.
func (s *Service) SyncLabs(ctx context.Context, workerID string) error {
	_, c, err := s.labClient(ctx, workerID)
	if err != nil {
		return err
	}
	at := s.now()
	labs, err := c.Labs(ctx)
	if err != nil {
		return upstream("CML failed to list the labs", err)
	}
	seen := map[string]bool{}
	var errs []error
	for _, l := range labs {
		seen[l.ID] = true
		if _, err := s.ObserveLab(ctx, workerID, l, at); err != nil {
			errs = append(errs, fmt.Errorf("lab %s: %w", l.ID, err))
		}
	}
	rows, err := s.rm.ListLabs(ctx, workerID)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, r := range rows {
		if !seen[r.LabID] {
			if err := s.removeLab(ctx, workerID, r.LabID, "no longer on the worker"); err != nil {
				errs = append(errs, fmt.Errorf("lab %s: %w", r.LabID, err))
			}
		}
	}
	return errors.Join(errs...)
}

func parseCMLTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
