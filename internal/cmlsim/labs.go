package cmlsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// labOp is the common shape of lab handlers: they run under s.mu with the
// state advanced to now, on a lab the user may see.
type labOp func(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time)

// withLab resolves {lab_id} and answers 404 "Lab not found: <id>" — the
// exact text virl2-client looks for to mark a lab stale.
func (s *Sim) withLab(op labOp) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, u *user) {
		id := r.PathValue("lab_id")
		s.mu.Lock()
		defer s.mu.Unlock()
		now := s.clock()
		s.advance(now)
		l := s.st.lab(id)
		if l == nil || !visible(l, u) {
			writeError(w, http.StatusNotFound, "Lab not found: "+id)
			return
		}
		op(w, r, u, l, now)
	}
}

func visible(l *lab, u *user) bool { return u.Admin || l.Owner == u.ID }

// labJSON renders a LabResponse. Callers hold s.mu.
func (s *Sim) labJSON(l *lab) map[string]any {
	owner := s.st.userByID(l.Owner)
	ownerName, ownerFull := "admin", ""
	if owner != nil {
		ownerName, ownerFull = owner.Username, owner.Fullname
	}
	return map[string]any{
		"id":                    l.ID,
		"created":               isoTime(l.Created),
		"modified":              isoTime(l.Modified),
		"lab_title":             l.Title,
		"lab_description":       l.Description,
		"lab_notes":             l.Notes,
		"owner":                 l.Owner,
		"owner_username":        ownerName,
		"owner_fullname":        ownerFull,
		"state":                 l.state(),
		"node_count":            len(l.Nodes),
		"link_count":            len(l.Links),
		"groups":                []any{},
		"effective_permissions": []string{"lab_admin", "lab_edit", "lab_exec", "lab_view"},
	}
}

// GET /labs[?show_all=true] → lab ids. Without show_all only the caller's
// own labs; with it an admin sees every user's labs.
func (s *Sim) handleListLabs(w http.ResponseWriter, r *http.Request, u *user) {
	all := queryBool(r, "show_all", false)
	s.mu.Lock()
	ids := []string{}
	for _, l := range s.st.Labs {
		if l.Owner == u.ID || (all && u.Admin) {
			ids = append(ids, l.ID)
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, ids)
}

type labCreate struct {
	Title       *string `json:"title"`
	Description *string `json:"description"`
	Notes       *string `json:"notes"`
	Owner       *string `json:"owner"`
}

// POST /labs → LabResponse of a new empty lab. An empty body is allowed
// (virl2-client sends {} when no field is given).
func (s *Sim) handleCreateLab(w http.ResponseWriter, r *http.Request, u *user) {
	var in labCreate
	if b, err := readBody(r); err != nil || (len(b) > 0 && json.Unmarshal(b, &in) != nil) {
		writeError(w, http.StatusBadRequest, "Invalid lab data: the body must be a JSON object")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	l := &lab{ID: newUUID(), Owner: u.ID, Version: exportVersion, Created: now, Modified: now, Title: defaultTitle(now)}
	if msg := s.applyLabPatch(l, in, u); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	s.st.Labs = append(s.st.Labs, l)
	l.addEvent(labEvent{Event: "ADD", ElementType: "LAB", ElementID: l.ID, Data: map[string]any{"title": l.Title}, Previous: map[string]any{}, Timestamp: now})
	s.userActivity(now, u.ID, "create_lab", map[string]any{"lab_id": l.ID})
	writeJSON(w, http.StatusOK, s.labJSON(l))
}

// applyLabPatch applies LabCreate fields; it returns a 400 description on
// invalid input. Callers hold s.mu.
func (s *Sim) applyLabPatch(l *lab, in labCreate, u *user) string {
	if in.Title != nil {
		if *in.Title == "" || len(*in.Title) > 64 {
			return "Invalid lab title: 1-64 characters"
		}
		l.Title = *in.Title
	}
	if in.Description != nil {
		if len(*in.Description) > 4096 {
			return "Invalid lab description: at most 4096 characters"
		}
		l.Description = *in.Description
	}
	if in.Notes != nil {
		if len(*in.Notes) > 32768 {
			return "Invalid lab notes: at most 32768 characters"
		}
		l.Notes = *in.Notes
	}
	if in.Owner != nil {
		if !u.Admin && *in.Owner != u.ID {
			return "Only administrators can change the owner of a lab"
		}
		if s.st.userByID(*in.Owner) == nil {
			return "User not found: " + *in.Owner
		}
		l.Owner = *in.Owner
	}
	return ""
}

func (s *Sim) handleGetLab(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	writeJSON(w, http.StatusOK, s.labJSON(l))
}

func (s *Sim) handlePatchLab(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	var in labCreate
	if err := decodeJSONBody(r, &in); err != nil {
		writeError(w, http.StatusBadRequest, "Invalid lab data: the body must be a JSON object")
		return
	}
	if msg := s.applyLabPatch(l, in, u); msg != "" {
		writeError(w, http.StatusBadRequest, msg)
		return
	}
	l.Modified = now
	l.addEvent(labEvent{Event: "CHANGE", ElementType: "LAB", ElementID: l.ID, Data: map[string]any{"title": l.Title}, Previous: map[string]any{}, Timestamp: now})
	writeJSON(w, http.StatusOK, s.labJSON(l))
}

// DELETE /labs/{id}: only a wiped lab (DEFINED_ON_CORE) can be deleted, as
// CML and virl2-client's Lab.remove() document ("must be stopped and wiped
// first").
func (s *Sim) handleDeleteLab(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	if st := l.state(); st != StateDefined {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Lab %s is %s: it must be stopped and wiped before it can be deleted.", l.ID, st))
		return
	}
	s.st.removeLab(l.ID)
	s.userActivity(now, u.ID, "delete_lab", map[string]any{"lab_id": l.ID})
	noContent(w)
}

// errNotReady refuses lab starts while no compute can run nodes.
var errNotReady = errors.New("no compute host is ready to start nodes")

// startNodes queues the given nodes. It enforces the licence's node limit
// over all running nodes of the controller. Callers hold s.mu.
//
// wholeLab records start_lab before the node events, as a lab start reads
// in CML's telemetry.
func (s *Sim) startNodes(l *lab, nodes []*node, u *user, now time.Time, wholeLab bool) error {
	if !s.ready(now) {
		return errNotReady
	}
	var toStart []*node
	add := 0
	for _, n := range nodes {
		if n.running() {
			continue
		}
		toStart = append(toStart, n)
		if !unlicensed(n) {
			add++
		}
	}
	if len(toStart) == 0 {
		return nil
	}
	if limit := s.nodeLimit(); limit >= 0 && s.licensedRunning()+add > limit {
		return fmt.Errorf("starting %d more nodes would exceed the licensed node count of %d (%d running)", add, limit, s.licensedRunning())
	}
	if wholeLab && l.state() != StateStarted {
		s.telemetry(now, "start_lab", map[string]any{"lab_id": l.ID, "user_id": u.ID, "nodes": len(l.Nodes)})
	}
	for _, n := range toStart {
		n.StartedBy = u.ID
		s.setNodeState(l, n, NodeQueued, now)
		s.telemetry(now, "queue_node", nodeEventData(l, n, u.ID))
	}
	// Move nodes whose boot delay is already over (all of them when
	// NodeBootDelay is 0) so the reply sees the converged state.
	s.advance(now)
	return nil
}

func unlicensed(n *node) bool {
	d := findNodeDef(n.NodeDefinition)
	return d != nil && d.Unlicensed
}

func (s *Sim) licensedRunning() int {
	c := 0
	for _, l := range s.st.Labs {
		for _, n := range l.Nodes {
			if n.running() && !unlicensed(n) {
				c++
			}
		}
	}
	return c
}

// PUT /labs/{id}/start → 204; nodes go QUEUED → STARTED → BOOTED.
func (s *Sim) handleStartLab(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	if err := s.startNodes(l, l.Nodes, u, now, true); err != nil {
		writeError(w, http.StatusBadRequest, "Cannot start lab: "+err.Error())
		return
	}
	noContent(w)
}

// stopNodes stops running nodes; disks are kept. Callers hold s.mu.
func (s *Sim) stopNodes(l *lab, nodes []*node, u *user, now time.Time) int {
	c := 0
	for _, n := range nodes {
		if !n.running() {
			continue
		}
		s.setNodeState(l, n, NodeStopped, now)
		n.StartedBy = ""
		s.telemetry(now, "stop_node", nodeEventData(l, n, u.ID))
		c++
	}
	return c
}

// PUT /labs/{id}/stop → 204; a lab that is not running is left alone.
func (s *Sim) handleStopLab(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	if l.state() == StateStarted {
		s.telemetry(now, "stop_lab", map[string]any{"lab_id": l.ID, "user_id": u.ID, "nodes": len(l.Nodes)})
	}
	s.stopNodes(l, l.Nodes, u, now)
	noContent(w)
}

// wipeNodes discards node disks; nodes must be stopped. Callers hold s.mu.
func (s *Sim) wipeNodes(l *lab, nodes []*node, u *user, now time.Time) {
	for _, n := range nodes {
		if n.State == NodeDefined {
			continue
		}
		s.setNodeState(l, n, NodeDefined, now)
		s.telemetry(now, "wipe_node", nodeEventData(l, n, u.ID))
	}
}

// PUT /labs/{id}/wipe → 204; refused while anything runs ("The lab must be
// stopped before it can be wiped").
func (s *Sim) handleWipeLab(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	if l.state() == StateStarted {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("Lab %s is STARTED: the lab must be stopped before it can be wiped.", l.ID))
		return
	}
	s.wipeNodes(l, l.Nodes, u, now)
	noContent(w)
}

func (s *Sim) handleLabState(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	writeJSON(w, http.StatusOK, l.state())
}

func (s *Sim) handleLabConverged(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	writeJSON(w, http.StatusOK, l.converged())
}

func (s *Sim) handleTopology(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	writeJSON(w, http.StatusOK, topologyJSON(l, queryBool(r, "exclude_configurations", false)))
}

// GET /labs/{id}/download → the lab as YAML text in the import format.
// (The OpenAPI document calls it a JSON string; clients read the raw text.)
func (s *Sim) handleDownload(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	b, err := exportYAML(l)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s.telemetry(now, "export_lab", map[string]any{"lab_id": l.ID, "user_id": u.ID})
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// POST /import[?title=] → {"id", "warnings"}; the body is YAML whatever
// the Content-Type says.
func (s *Sim) handleImport(w http.ResponseWriter, r *http.Request, u *user) {
	body, err := readBody(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "Import failed: "+err.Error())
		return
	}
	title := r.URL.Query().Get("title")
	if len(title) > 64 {
		writeError(w, http.StatusBadRequest, "Import failed: the title is longer than 64 characters")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	l, warnings, err := parseTopology(body, title, u.ID, now)
	if err != nil {
		var ie errImport
		if errors.As(err, &ie) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		writeError(w, http.StatusBadRequest, "Import failed: "+err.Error())
		return
	}
	s.st.Labs = append(s.st.Labs, l)
	l.addEvent(labEvent{Event: "ADD", ElementType: "LAB", ElementID: l.ID, Data: map[string]any{"title": l.Title}, Previous: map[string]any{}, Timestamp: now})
	s.telemetry(now, "import_lab", map[string]any{
		"lab_id": l.ID, "user_id": u.ID, "nodes": len(l.Nodes), "links": len(l.Links),
	})
	writeJSON(w, http.StatusOK, map[string]any{"id": l.ID, "warnings": nonNil(warnings)})
}

// GET /populate_lab_tiles → {"lab_tiles": {id: tile}}. A tile carries the
// lab summary virl2-client reads (lab_title …) and the keys the OpenAPI
// LabUi schema requires.
func (s *Sim) handleLabTiles(w http.ResponseWriter, r *http.Request, u *user) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.advance(now)
	tiles := map[string]any{}
	for _, l := range s.st.Labs {
		if !visible(l, u) {
			continue
		}
		t := s.labJSON(l)
		nodes := make([]map[string]any, 0, len(l.Nodes))
		for _, n := range l.Nodes {
			m := nodeCommonJSON(n)
			m["state"] = n.State
			nodes = append(nodes, m)
		}
		t["topology"] = map[string]any{"nodes": nodes, "links": len(l.Links)}
		t["health"] = map[string]any{}
		t["system_information"] = s.systemInformation(now)
		t["simplified_node_definitions"] = []any{}
		tiles[l.ID] = t
	}
	writeJSON(w, http.StatusOK, map[string]any{"lab_tiles": tiles})
}

func (s *Sim) handleLabEvents(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	out := make([]map[string]any, 0, len(l.Events))
	for _, e := range l.Events {
		out = append(out, map[string]any{
			"lab_id": l.ID, "event": e.Event, "element_type": e.ElementType, "element_id": e.ElementID,
			"data": e.Data, "previous": e.Previous, "timestamp": isoTime(e.Timestamp),
		})
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleAnnotations(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	writeJSON(w, http.StatusOK, nonNil(l.Annotations))
}

func (s *Sim) handleSmartAnnotations(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	writeJSON(w, http.StatusOK, nonNil(l.SmartAnnotations))
}

// GET|PUT /labs/{id}/bootstrap: builds missing configurations. The
// simulator has no configuration generator, so it only acknowledges.
// (virl2-client sends GET although the OpenAPI document defines PUT.)
func (s *Sim) handleBootstrap(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	noContent(w)
}
