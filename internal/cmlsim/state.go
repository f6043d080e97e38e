package cmlsim

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// Lab and node states as CML names them.
const (
	StateDefined = "DEFINED_ON_CORE"
	StateStopped = "STOPPED"
	StateStarted = "STARTED"

	NodeDefined = "DEFINED_ON_CORE"
	NodeStopped = "STOPPED"
	NodeQueued  = "QUEUED"
	NodeStarted = "STARTED"
	NodeBooted  = "BOOTED"
)

// stateVersion is bumped when the saved-state layout changes incompatibly.
const stateVersion = 1

// state is everything a controller keeps on disk. Its exported fields are
// what SaveState writes.
type state struct {
	Version   int          `json:"version"`
	ComputeID string       `json:"compute_id"`
	Users     []*user      `json:"users"`
	Labs      []*lab       `json:"labs"`
	Licensing *licensing   `json:"licensing"`
	Telemetry []telemetryE `json:"telemetry"`
}

type user struct {
	ID       string    `json:"id"`
	Username string    `json:"username"`
	Password string    `json:"password"`
	Fullname string    `json:"fullname"`
	Admin    bool      `json:"admin"`
	Created  time.Time `json:"created"`
}

type lab struct {
	ID          string    `json:"id"`
	Title       string    `json:"title"`
	Description string    `json:"description"`
	Notes       string    `json:"notes"`
	Owner       string    `json:"owner"`
	Version     string    `json:"version"` // topology schema version
	Created     time.Time `json:"created"`
	Modified    time.Time `json:"modified"`
	Nodes       []*node   `json:"nodes"`
	Links       []*link   `json:"links"`
	// Annotations are kept as the YAML gave them (plus a server id): the
	// simulator has no behaviour attached to them.
	Annotations      []map[string]any `json:"annotations"`
	SmartAnnotations []map[string]any `json:"smart_annotations"`
	Events           []labEvent       `json:"events"`
}

type node struct {
	ID              string         `json:"id"`
	Label           string         `json:"label"`
	NodeDefinition  string         `json:"node_definition"`
	ImageDefinition *string        `json:"image_definition"`
	X               int            `json:"x"`
	Y               int            `json:"y"`
	RAM             *int           `json:"ram"`
	CPUs            *int           `json:"cpus"`
	CPULimit        *int           `json:"cpu_limit"`
	DataVolume      *int           `json:"data_volume"`
	BootDiskSize    *int           `json:"boot_disk_size"`
	HideLinks       bool           `json:"hide_links"`
	Tags            []string       `json:"tags"`
	Parameters      map[string]any `json:"parameters"`
	Configuration   []configFile   `json:"configuration"` // nil = none
	Interfaces      []*iface       `json:"interfaces"`
	State           string         `json:"state"`
	// Since is when the node entered State; QUEUED/STARTED nodes move on
	// from it (see advance).
	Since time.Time `json:"since"`
	// StartedBy is who started the node, for the telemetry of its later
	// transitions.
	StartedBy string `json:"started_by,omitempty"`
}

type configFile struct {
	Name    string  `json:"name" yaml:"name"`
	Content *string `json:"content" yaml:"content"`
}

type iface struct {
	ID         string  `json:"id"`
	Label      string  `json:"label"`
	Type       string  `json:"type"`
	Slot       *int    `json:"slot"`
	MACAddress *string `json:"mac_address"`
}

type link struct {
	ID           string         `json:"id"`
	InterfaceA   string         `json:"interface_a"`
	InterfaceB   string         `json:"interface_b"`
	NodeA        string         `json:"node_a"`
	NodeB        string         `json:"node_b"`
	Label        string         `json:"label"`
	Conditioning map[string]any `json:"conditioning,omitempty"`
}

// labEvent is one entry of GET /labs/{id}/events.
type labEvent struct {
	Event       string         `json:"event"`
	ElementType string         `json:"element_type"`
	ElementID   string         `json:"element_id"`
	Data        map[string]any `json:"data"`
	Previous    map[string]any `json:"previous"`
	Timestamp   time.Time      `json:"timestamp"`
}

func newState(username, password string, now time.Time) *state {
	st := &state{Version: stateVersion, ComputeID: newUUID(), Licensing: newLicensing()}
	st.ensureAdmin(username, password, now)
	return st
}

// ensureAdmin makes the configured admin exist with the configured
// password; a restored state keeps its other users.
func (st *state) ensureAdmin(username, password string, now time.Time) {
	for _, u := range st.Users {
		if u.ID == AdminUserID {
			u.Username, u.Password, u.Admin = username, password, true
			return
		}
	}
	st.Users = append([]*user{{
		ID: AdminUserID, Username: username, Password: password, Admin: true,
		Fullname: "Administrator", Created: now,
	}}, st.Users...)
}

func (st *state) userByName(name string) *user {
	for _, u := range st.Users {
		if u.Username == name {
			return u
		}
	}
	return nil
}

func (st *state) userByID(id string) *user {
	for _, u := range st.Users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

func (st *state) lab(id string) *lab {
	for _, l := range st.Labs {
		if l.ID == id {
			return l
		}
	}
	return nil
}

func (st *state) removeLab(id string) {
	st.Labs = slices.DeleteFunc(st.Labs, func(l *lab) bool { return l.ID == id })
}

// powerLoss is what a controller finds after its instance was stopped:
// every VM is gone, disks remain, so running nodes are STOPPED.
func (st *state) powerLoss() {
	for _, l := range st.Labs {
		for _, n := range l.Nodes {
			if n.running() {
				n.State = NodeStopped
				n.StartedBy = ""
			}
		}
	}
	if st.Licensing != nil && st.Licensing.Registration == regInProgress {
		// A registration interrupted by the stop did not finish.
		st.Licensing.Registration = regFailed
		st.Licensing.Failure = "Registration interrupted by a controller restart"
	}
}

func encodeState(st *state) ([]byte, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("cmlsim: encode state: %w", err)
	}
	return b, nil
}

func decodeState(b []byte) (*state, error) {
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("cmlsim: decode state: %w", err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("cmlsim: saved state version %d, want %d", st.Version, stateVersion)
	}
	if st.ComputeID == "" {
		st.ComputeID = newUUID()
	}
	if st.Licensing == nil {
		st.Licensing = newLicensing()
	}
	return &st, nil
}

func (n *node) running() bool {
	switch n.State {
	case NodeQueued, NodeStarted, NodeBooted:
		return true
	}
	return false
}

// transient reports a node still on its way to BOOTED.
func (n *node) transient() bool { return n.State == NodeQueued || n.State == NodeStarted }

// state derives the lab state from its nodes, as CML does: STARTED if any
// node runs, else STOPPED if any node has a disk, else DEFINED_ON_CORE.
func (l *lab) state() string {
	stopped := false
	for _, n := range l.Nodes {
		if n.running() {
			return StateStarted
		}
		if n.State == NodeStopped {
			stopped = true
		}
	}
	if stopped {
		return StateStopped
	}
	return StateDefined
}

func (l *lab) converged() bool {
	for _, n := range l.Nodes {
		if n.transient() {
			return false
		}
	}
	return true
}

func (l *lab) node(id string) *node {
	for _, n := range l.Nodes {
		if n.ID == id {
			return n
		}
	}
	return nil
}

// linkState follows its nodes: STARTED while both ends run.
func (l *lab) linkState(k *link) string {
	a, b := l.node(k.NodeA), l.node(k.NodeB)
	if a == nil || b == nil {
		return StateDefined
	}
	switch {
	case a.running() && b.running():
		return StateStarted
	case a.State == NodeDefined && b.State == NodeDefined:
		return StateDefined
	default:
		return StateStopped
	}
}

func ifaceState(n *node) string {
	switch {
	case n.running():
		return StateStarted
	case n.State == NodeStopped:
		return StateStopped
	default:
		return StateDefined
	}
}

// addEvent records an entry of the lab's event history.
func (l *lab) addEvent(ev labEvent) {
	l.Events = append(l.Events, ev)
	// Keep the per-lab history bounded; only the recent past is useful.
	if len(l.Events) > 500 {
		l.Events = slices.Delete(l.Events, 0, len(l.Events)-500)
	}
}

// advance applies the time-driven transitions due by now: nodes moving
// QUEUED → STARTED → BOOTED and licence registrations finishing. Each
// transition is stamped with the time it was due, not the time it was
// noticed, so telemetry reads as if a real controller had been running.
// Callers hold s.mu.
func (s *Sim) advance(now time.Time) {
	queueFor := s.opts.NodeBootDelay / 5
	bootFor := s.opts.NodeBootDelay - queueFor
	// Two passes, so that nodes started together report start_node for
	// all before boot_node for any, as they would on a real host.
	for _, l := range s.st.Labs {
		for _, n := range l.Nodes {
			if at := n.Since.Add(queueFor); n.State == NodeQueued && !now.Before(at) {
				s.setNodeState(l, n, NodeStarted, at)
				s.telemetry(at, "start_node", nodeEventData(l, n, n.StartedBy))
			}
		}
	}
	for _, l := range s.st.Labs {
		for _, n := range l.Nodes {
			if at := n.Since.Add(bootFor); n.State == NodeStarted && !now.Before(at) {
				s.setNodeState(l, n, NodeBooted, at)
				s.telemetry(at, "boot_node", nodeEventData(l, n, n.StartedBy))
			}
		}
	}
	s.advanceLicensing(now)
}

func (s *Sim) setNodeState(l *lab, n *node, to string, at time.Time) {
	prev := n.State
	n.State, n.Since = to, at
	l.addEvent(labEvent{
		Event: "STATE_CHANGED", ElementType: "NODE", ElementID: n.ID,
		Data: map[string]any{"state": to}, Previous: map[string]any{"state": prev}, Timestamp: at,
	})
}

func nodeEventData(l *lab, n *node, userID string) map[string]any {
	d := map[string]any{
		"lab_id":          l.ID,
		"node_id":         n.ID,
		"node_definition": n.NodeDefinition,
	}
	if userID != "" {
		d["user_id"] = userID
	}
	return d
}
