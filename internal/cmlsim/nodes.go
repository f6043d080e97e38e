package cmlsim

import (
	"net/http"
	"time"
)

// nodeJSON renders a Node (GET /labs/{id}/nodes?data=true, /nodes/{nid}).
// Callers hold s.mu.
func (s *Sim) nodeJSON(l *lab, n *node, operational, excludeConfig bool) map[string]any {
	m := nodeCommonJSON(n)
	m["lab_id"] = l.ID
	m["state"] = n.State
	m["boot_progress"] = bootProgress(n)
	var compute any
	if n.running() {
		compute = s.computeID
	}
	m["compute_id"] = compute
	m["resource_pool"] = nil
	m["pinned_compute_id"] = nil
	m["vnc_key"] = nil
	m["serial_consoles"] = []any{}
	if !excludeConfig {
		m["configuration"] = configurationJSON(n)
	}
	if operational {
		m["operational"] = s.operationalJSON(n)
	}
	return m
}

// operationalJSON is NodeOperationalData: the values in effect while the
// node runs (defaults of its definition filled in), null otherwise.
func (s *Sim) operationalJSON(n *node) map[string]any {
	op := map[string]any{
		"boot_disk_size": nil, "cpu_limit": nil, "cpus": nil, "data_volume": nil, "ram": nil,
		"compute_id": nil, "image_definition": nil, "vnc_key": nil, "resource_pool": nil,
		"iol_app_id": nil, "serial_consoles": []any{},
	}
	if !n.running() {
		return op
	}
	sp := nodeSpecFor(n)
	d := findNodeDef(n.NodeDefinition)
	op["compute_id"] = s.computeID
	if d != nil && d.DomainDriver == "kvm" {
		op["ram"], op["cpus"], op["cpu_limit"] = sp.RAM, sp.CPUs, 100
		op["boot_disk_size"], op["data_volume"] = sp.DiskGiB, 0
		if n.CPULimit != nil {
			op["cpu_limit"] = *n.CPULimit
		}
		if n.DataVolume != nil {
			op["data_volume"] = *n.DataVolume
		}
		img := n.ImageDefinition
		if img == nil && len(d.Images) > 0 {
			img = &d.Images[0].ID
		}
		op["image_definition"] = img
	}
	return op
}

func bootProgress(n *node) string {
	switch n.State {
	case NodeBooted:
		return "Booted"
	case NodeQueued, NodeStarted:
		return "Booting"
	}
	return "Not running"
}

// GET /labs/{id}/nodes[?data=true&operational=true&exclude_configurations=…]
func (s *Sim) handleLabNodes(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	if !queryBool(r, "data", false) {
		ids := make([]string, 0, len(l.Nodes))
		for _, n := range l.Nodes {
			ids = append(ids, n.ID)
		}
		writeJSON(w, http.StatusOK, ids)
		return
	}
	op, excl := queryBool(r, "operational", false), queryBool(r, "exclude_configurations", false)
	out := make([]map[string]any, 0, len(l.Nodes))
	for _, n := range l.Nodes {
		out = append(out, s.nodeJSON(l, n, op, excl))
	}
	writeJSON(w, http.StatusOK, out)
}

// GET /nodes → every node the caller can see, across labs.
func (s *Sim) handleAllNodes(w http.ResponseWriter, r *http.Request, u *user) {
	op, excl := queryBool(r, "operational", false), queryBool(r, "exclude_configurations", false)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance(s.clock())
	out := []map[string]any{}
	for _, l := range s.st.Labs {
		if !visible(l, u) {
			continue
		}
		for _, n := range l.Nodes {
			out = append(out, s.nodeJSON(l, n, op, excl))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

type nodeOp func(w http.ResponseWriter, r *http.Request, u *user, l *lab, n *node, now time.Time)

// withNode resolves {node_id} within the lab; 404 "Node not found: <id>"
// is the text virl2-client uses to mark a node stale.
func (s *Sim) withNode(op nodeOp) authedHandler {
	return s.withLab(func(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
		n := l.node(r.PathValue("node_id"))
		if n == nil {
			writeError(w, http.StatusNotFound, "Node not found: "+r.PathValue("node_id"))
			return
		}
		op(w, r, u, l, n, now)
	})
}

func (s *Sim) handleNode(w http.ResponseWriter, r *http.Request, u *user, l *lab, n *node, now time.Time) {
	writeJSON(w, http.StatusOK, s.nodeJSON(l, n, queryBool(r, "operational", false), queryBool(r, "exclude_configurations", false)))
}

func (s *Sim) handleNodeState(w http.ResponseWriter, r *http.Request, u *user, l *lab, n *node, now time.Time) {
	writeJSON(w, http.StatusOK, map[string]any{"state": n.State, "progress": bootProgress(n)})
}

func (s *Sim) handleNodeConverged(w http.ResponseWriter, r *http.Request, u *user, l *lab, n *node, now time.Time) {
	writeJSON(w, http.StatusOK, !n.transient())
}

func (s *Sim) handleNodeStart(w http.ResponseWriter, r *http.Request, u *user, l *lab, n *node, now time.Time) {
	if err := s.startNodes(l, []*node{n}, u, now, false); err != nil {
		writeError(w, http.StatusBadRequest, "Cannot start node: "+err.Error())
		return
	}
	noContent(w)
}

func (s *Sim) handleNodeStop(w http.ResponseWriter, r *http.Request, u *user, l *lab, n *node, now time.Time) {
	s.stopNodes(l, []*node{n}, u, now)
	noContent(w)
}

func (s *Sim) handleNodeWipe(w http.ResponseWriter, r *http.Request, u *user, l *lab, n *node, now time.Time) {
	if n.running() {
		writeError(w, http.StatusBadRequest, "Node "+n.ID+" must be stopped before its disks can be wiped.")
		return
	}
	s.wipeNodes(l, []*node{n}, u, now)
	noContent(w)
}

// GET /labs/{id}/links[?data=true]
func (s *Sim) handleLabLinks(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	if !queryBool(r, "data", false) {
		ids := make([]string, 0, len(l.Links))
		for _, k := range l.Links {
			ids = append(ids, k.ID)
		}
		writeJSON(w, http.StatusOK, ids)
		return
	}
	out := make([]map[string]any, 0, len(l.Links))
	for _, k := range l.Links {
		out = append(out, map[string]any{
			"id": k.ID, "lab_id": l.ID, "interface_a": k.InterfaceA, "interface_b": k.InterfaceB,
			"node_a": k.NodeA, "node_b": k.NodeB, "label": k.Label, "state": l.linkState(k),
			"link_capture_key": "",
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// GET /labs/{id}/lab_element_state → states of all nodes, links and
// interfaces, keyed by id (the ids of the topology, as virl2-client needs).
func (s *Sim) handleElementState(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	nodes, ifaces, links := map[string]string{}, map[string]string{}, map[string]string{}
	for _, n := range l.Nodes {
		nodes[n.ID] = n.State
		for _, i := range n.Interfaces {
			ifaces[i.ID] = ifaceState(n)
		}
	}
	for _, k := range l.Links {
		links[k.ID] = l.linkState(k)
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": nodes, "links": links, "interfaces": ifaces})
}

// GET /labs/{id}/simulation_stats → {"nodes": {id: …}, "links": {id: …}}.
// Real controllers (and virl2-client, which iterates .items()) use maps
// keyed by element id; the OpenAPI document's arrays are wrong here.
func (s *Sim) handleSimulationStats(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	nodes, links := map[string]any{}, map[string]any{}
	for _, n := range l.Nodes {
		if !n.running() {
			continue
		}
		cpu := 25.0
		if n.transient() {
			cpu = 100
		}
		up := now.Sub(n.Since).Seconds()
		nodes[n.ID] = map[string]any{
			"cpu_usage":       cpu,
			"block0_rd_bytes": int64(up * 4096),
			"block0_wr_bytes": int64(up * 1024),
		}
	}
	for _, k := range l.Links {
		if l.linkState(k) != StateStarted {
			continue
		}
		links[k.ID] = map[string]any{"readbytes": 0, "readpackets": 0, "writebytes": 0, "writepackets": 0, "drops": 0}
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": nodes, "links": links})
}

// GET /labs/{id}/layer3_addresses → {} (nothing learned: the simulated
// nodes run no DHCP or ARP).
func (s *Sim) handleLayer3(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	writeJSON(w, http.StatusOK, map[string]any{})
}

// GET /labs/{id}/resource_pools → [] (no resource pools are simulated).
func (s *Sim) handleLabResourcePools(w http.ResponseWriter, r *http.Request, u *user, l *lab, now time.Time) {
	writeJSON(w, http.StatusOK, []string{})
}

// GET /resource_pools → [].
func (s *Sim) handleResourcePools(w http.ResponseWriter, r *http.Request, u *user) {
	writeJSON(w, http.StatusOK, []any{})
}
