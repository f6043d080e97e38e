// Package lab is the lab record aggregate: what the fleet knows of one CML
// lab on one worker, kept in step with the worker's CML by the lab refresh
// job. Its id is "<worker id>/<lab id>".
//
// The one command that matters, Observe, takes the lab as CML reports it
// and records only real changes: discovered the first time, state_changed
// when CML's lab state moved (with whatever else changed), updated when
// other fields changed. Remove records that the lab is gone from CML.
package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cmlcm/cmlcm/internal/event"
)

// AggregateType is the event.Root aggregate type of lab records.
const AggregateType = "lab"

// SnapshotSchema is the version of the snapshot state layout.
const SnapshotSchema = 1

// Event types.
const (
	TypeDiscovered   = "cml.lab.discovered.v1"
	TypeUpdated      = "cml.lab.updated.v1"
	TypeStateChanged = "cml.lab.state_changed.v1"
	TypeRemoved      = "cml.lab.removed.v1"
)

// Lab states CML reports (others are accepted as reported).
const (
	StateDefinedOnCore = "DEFINED_ON_CORE"
	StateStarted       = "STARTED"
	StateStopped       = "STOPPED"
	StateQueued        = "QUEUED"
	StateBooted        = "BOOTED"
)

// Limits of what we keep from CML.
const (
	MaxTitleLength       = 256
	MaxDescriptionLength = 4096
)

// Errors. A *ValidationError matches ErrInvalid; a *TransitionError matches
// ErrTransition.
var (
	ErrInvalid    = errors.New("invalid lab input")
	ErrTransition = errors.New("illegal lab transition")
	ErrNotFound   = errors.New("lab record does not exist")
	ErrRemoved    = errors.New("lab record is removed")
)

// ValidationError rejects malformed input.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("invalid lab input: %s %s", e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// TransitionError rejects a command because of the record's state.
type TransitionError struct {
	Op     string
	Reason string
	Err    error
}

func (e *TransitionError) Error() string { return fmt.Sprintf("cannot %s lab: %s", e.Op, e.Reason) }

// Unwrap makes errors.Is match ErrTransition and the specific sentinel.
func (e *TransitionError) Unwrap() []error { return []error{ErrTransition, e.Err} }

// ID is the aggregate id of a lab on a worker.
func ID(workerID, labID string) string { return workerID + "/" + labID }

// SplitID returns the worker and lab ids of an aggregate id.
func SplitID(id string) (workerID, labID string, ok bool) {
	workerID, labID, ok = strings.Cut(id, "/")
	return workerID, labID, ok && workerID != "" && labID != ""
}

// Snapshot is a lab as the worker's CML reports it.
type Snapshot struct {
	LabID       string
	Title       string
	Description string
	State       string // as CML reports it, e.g. STARTED
	Owner       string // owner user name
	NodeCount   int
	LinkCount   int
	CreatedAt   time.Time
	ModifiedAt  time.Time
	// ObservedAt is when CML was asked; an observation older than the last
	// one applied is ignored (refreshes can overlap). Zero means now.
	ObservedAt time.Time
}

// Fields is the lab data every event carries in full, so any event alone
// tells what the lab looked like.
type Fields struct {
	Title       string    `json:"title"`
	Description string    `json:"description"`
	State       string    `json:"state"`
	Owner       string    `json:"owner"`
	NodeCount   int       `json:"nodeCount"`
	LinkCount   int       `json:"linkCount"`
	CreatedAt   time.Time `json:"createdAt,omitzero"`
	ModifiedAt  time.Time `json:"modifiedAt,omitzero"`
}

// Discovered: the lab was seen for the first time (or again after removal).
type Discovered struct {
	WorkerID   string    `json:"workerId"`
	LabID      string    `json:"labId"`
	ObservedAt time.Time `json:"observedAt"`
	Fields
}

// Updated: fields other than the state changed; Changed names them.
type Updated struct {
	ObservedAt time.Time `json:"observedAt"`
	Changed    []string  `json:"changed"`
	Fields
}

// StateChanged: CML's lab state moved from PreviousState to State; Changed
// names every field that changed (always including "state").
type StateChanged struct {
	ObservedAt    time.Time `json:"observedAt"`
	PreviousState string    `json:"previousState"`
	Changed       []string  `json:"changed"`
	Fields
}

// Removed: the lab is no longer on the worker.
type Removed struct {
	Reason string `json:"reason,omitempty"`
}

// EventType implements event.Payload.
func (*Discovered) EventType() string { return TypeDiscovered }

// EventType implements event.Payload.
func (*Updated) EventType() string { return TypeUpdated }

// EventType implements event.Payload.
func (*StateChanged) EventType() string { return TypeStateChanged }

// EventType implements event.Payload.
func (*Removed) EventType() string { return TypeRemoved }

// Registry decodes every lab event.
var Registry = event.Registry{}

func init() {
	Registry.Register(func() event.Payload { return new(Discovered) })
	Registry.Register(func() event.Payload { return new(Updated) })
	Registry.Register(func() event.Payload { return new(StateChanged) })
	Registry.Register(func() event.Payload { return new(Removed) })
}

// Lab is the aggregate. Create it with New.
type Lab struct {
	event.Root
	s state
}

type state struct {
	Exists       bool      `json:"exists"`
	Removed      bool      `json:"removed,omitempty"`
	WorkerID     string    `json:"workerId"`
	LabID        string    `json:"labId"`
	Fields       Fields    `json:"fields"`
	ObservedAt   time.Time `json:"observedAt,omitzero"`
	DiscoveredAt time.Time `json:"discoveredAt,omitzero"`
	UpdatedAt    time.Time `json:"updatedAt,omitzero"`
	RemovedAt    time.Time `json:"removedAt,omitzero"`
}

// New returns an empty lab record with the given id ("<worker>/<lab>").
func New(id string) *Lab {
	l := &Lab{}
	l.Init(AggregateType, id)
	return l
}

var stateRE = regexp.MustCompile(`^[A-Z][A-Z_]*$`)

// Observe records what CML reports of the lab: discovered on first sight
// (or after a removal), else state_changed or updated for real changes
// only. Snapshots older than the last applied are ignored.
func (l *Lab) Observe(snap Snapshot) error {
	workerID, labID, ok := SplitID(l.AggregateID())
	if !ok {
		return &ValidationError{"id", fmt.Sprintf("%q is not <worker id>/<lab id>", l.AggregateID())}
	}
	if snap.LabID != labID {
		return &ValidationError{"labId", fmt.Sprintf("%q does not belong to record %s", snap.LabID, l.AggregateID())}
	}
	if !stateRE.MatchString(snap.State) || len(snap.State) > 64 {
		return &ValidationError{"state", fmt.Sprintf("%q is not a CML lab state", snap.State)}
	}
	if snap.NodeCount < 0 || snap.LinkCount < 0 {
		return &ValidationError{"nodeCount", "counts must not be negative"}
	}
	at := snap.ObservedAt.UTC()
	if at.IsZero() {
		at = l.Now().UTC()
	}
	f := Fields{Title: truncate(snap.Title, MaxTitleLength), Description: truncate(snap.Description, MaxDescriptionLength),
		State: snap.State, Owner: truncate(snap.Owner, 128), NodeCount: snap.NodeCount, LinkCount: snap.LinkCount,
		CreatedAt: snap.CreatedAt.UTC(), ModifiedAt: snap.ModifiedAt.UTC()}

	if !l.s.Exists || l.s.Removed {
		return l.Record(&Discovered{WorkerID: workerID, LabID: labID, ObservedAt: at, Fields: f}, l.apply)
	}
	if at.Before(l.s.ObservedAt) {
		return nil
	}
	changed := diff(l.s.Fields, f)
	switch {
	case len(changed) == 0:
		return nil
	case slices.Contains(changed, "state"):
		return l.Record(&StateChanged{ObservedAt: at, PreviousState: l.s.Fields.State, Changed: changed, Fields: f}, l.apply)
	}
	return l.Record(&Updated{ObservedAt: at, Changed: changed, Fields: f}, l.apply)
}

// Remove records that the lab is gone from the worker (deleted in CML, or
// the worker removed). Removing a removed or unknown record is an error.
func (l *Lab) Remove(reason string) error {
	switch {
	case !l.s.Exists:
		return &TransitionError{Op: "remove", Reason: "the lab record does not exist", Err: ErrNotFound}
	case l.s.Removed:
		return &TransitionError{Op: "remove", Reason: "the lab record is already removed", Err: ErrRemoved}
	}
	return l.Record(&Removed{Reason: truncate(strings.TrimSpace(reason), 500)}, l.apply)
}

func diff(a, b Fields) []string {
	var out []string
	add := func(name string, differs bool) {
		if differs {
			out = append(out, name)
		}
	}
	add("title", a.Title != b.Title)
	add("description", a.Description != b.Description)
	add("state", a.State != b.State)
	add("owner", a.Owner != b.Owner)
	add("nodeCount", a.NodeCount != b.NodeCount)
	add("linkCount", a.LinkCount != b.LinkCount)
	add("createdAt", !a.CreatedAt.Equal(b.CreatedAt))
	add("modifiedAt", !a.ModifiedAt.Equal(b.ModifiedAt))
	return out
}

// apply is the only code that changes the state.
func (l *Lab) apply(e event.Event, p event.Payload) {
	s := &l.s
	s.UpdatedAt = e.Time
	switch p := p.(type) {
	case *Discovered:
		*s = state{Exists: true, WorkerID: p.WorkerID, LabID: p.LabID, Fields: p.Fields,
			ObservedAt: p.ObservedAt, DiscoveredAt: e.Time, UpdatedAt: e.Time}
	case *Updated:
		s.Fields, s.ObservedAt = p.Fields, p.ObservedAt
	case *StateChanged:
		s.Fields, s.ObservedAt = p.Fields, p.ObservedAt
	case *Removed:
		s.Removed, s.RemovedAt = true, e.Time
	}
}

// ReplayEvent implements eventstore.Aggregate.
func (l *Lab) ReplayEvent(e event.Event) error { return l.Replay(e, Registry, l.apply) }

// SnapshotState implements eventstore.Aggregate.
func (l *Lab) SnapshotState() (int, json.RawMessage, error) {
	b, err := json.Marshal(l.s)
	if err != nil {
		return 0, nil, fmt.Errorf("snapshot lab %s: %w", l.AggregateID(), err)
	}
	return SnapshotSchema, b, nil
}

// RestoreSnapshot implements eventstore.Aggregate.
func (l *Lab) RestoreSnapshot(schema int, version int64, data json.RawMessage) error {
	if schema != SnapshotSchema {
		return fmt.Errorf("lab %s snapshot schema %d, want %d: %w", l.AggregateID(), schema, SnapshotSchema, event.ErrSnapshotSchema)
	}
	var s state
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("lab %s snapshot: %w", l.AggregateID(), err)
	}
	l.s = s
	l.SetVersion(version)
	return nil
}

// Exists reports whether the lab was ever discovered.
func (l *Lab) Exists() bool { return l.s.Exists }

// Removed reports whether the lab is gone (the read model drops it).
func (l *Lab) Removed() bool { return l.s.Removed }

// State is the lab state CML last reported.
func (l *Lab) State() string { return l.s.Fields.State }

// View is the lab as the read model stores it and the API shows it.
type View struct {
	ID           string     `json:"id"` // the record id, "<worker id>/<lab id>"
	WorkerID     string     `json:"workerId"`
	LabID        string     `json:"labId"`
	Title        string     `json:"title"`
	Description  string     `json:"description"`
	State        string     `json:"state"`
	Owner        string     `json:"owner"`
	NodeCount    int        `json:"nodeCount"`
	LinkCount    int        `json:"linkCount"`
	CreatedAt    *time.Time `json:"createdAt"`
	ModifiedAt   *time.Time `json:"modifiedAt"`
	DiscoveredAt *time.Time `json:"discoveredAt"`
	ObservedAt   *time.Time `json:"observedAt"`
	UpdatedAt    *time.Time `json:"updatedAt"`
	Version      int64      `json:"version"`
}

// View returns the lab's representation.
func (l *Lab) View() View {
	s := &l.s
	return View{ID: l.AggregateID(), WorkerID: s.WorkerID, LabID: s.LabID,
		Title: s.Fields.Title, Description: s.Fields.Description, State: s.Fields.State, Owner: s.Fields.Owner,
		NodeCount: s.Fields.NodeCount, LinkCount: s.Fields.LinkCount, CreatedAt: tp(s.Fields.CreatedAt),
		ModifiedAt: tp(s.Fields.ModifiedAt), DiscoveredAt: tp(s.DiscoveredAt), ObservedAt: tp(s.ObservedAt),
		UpdatedAt: tp(s.UpdatedAt), Version: l.Version()}
}

func tp(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
