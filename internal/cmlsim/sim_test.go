package cmlsim_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/cmlsim"
	"github.com/cmlcm/cmlcm/internal/cmlsim/oascheck"
)

// api is a minimal raw client for the simulator. The server side is
// wrapped in oascheck.Handler, so every response in these tests is
// validated against the CML 2.9 OpenAPI document.
type api struct {
	t     *testing.T
	base  string
	token string
}

func newAPI(t *testing.T, sim *cmlsim.Sim) *api {
	t.Helper()
	srv := httptest.NewServer(oascheck.Handler(t, sim))
	t.Cleanup(srv.Close)
	a := &api{t: t, base: srv.URL + "/api/v0/"}
	a.login("admin", "admin")
	return a
}

func (a *api) login(user, pw string) {
	a.t.Helper()
	var tok string
	a.do("POST", "authenticate", map[string]string{"username": user, "password": pw}, 200, &tok)
	a.token = tok
}

// raw sends a request; body may be nil, []byte (sent as is) or a value
// sent as JSON.
func (a *api) raw(method, path string, body any) (int, []byte) {
	a.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		r = bytes.NewReader(j)
	}
	req, _ := http.NewRequest(method, a.base+path, r)
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, out
}

// do sends a request, checks the status and decodes a JSON reply into v.
func (a *api) do(method, path string, body any, want int, v any) []byte {
	a.t.Helper()
	status, out := a.raw(method, path, body)
	if status != want {
		a.t.Fatalf("%s %s = %d %s, want %d", method, path, status, out, want)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			a.t.Fatalf("%s %s: decode %s: %v", method, path, out, err)
		}
	}
	return out
}

func (a *api) importLab(yaml []byte) string {
	a.t.Helper()
	var res struct {
		ID       string   `json:"id"`
		Warnings []string `json:"warnings"`
	}
	a.do("POST", "import", yaml, 200, &res)
	return res.ID
}

func (a *api) labState(id string) string {
	a.t.Helper()
	var s string
	a.do("GET", "labs/"+id+"/state", nil, 200, &s)
	return s
}

func sampleLab(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/sample-lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// alpineLab is a topology of n alpine nodes in a chain.
func alpineLab(n int) []byte {
	var b strings.Builder
	b.WriteString("lab:\n  version: 0.3.0\n  title: chain\nnodes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - {id: n%d, label: a%d, node_definition: alpine, x: %d, y: 0, interfaces: [{id: i0, type: physical, slot: 0}, {id: i1, type: physical, slot: 1}]}\n", i, i, i*100)
	}
	b.WriteString("links:\n")
	if n < 2 {
		b.WriteString("  []\n")
	}
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "  - {id: l%d, n1: n%d, i1: i1, n2: n%d, i2: i0}\n", i, i-1, i)
	}
	return []byte(b.String())
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestEndpointSweep calls every endpoint the simulator serves on a lab in
// each state, so each response shape is validated against the OpenAPI
// document at least once.
func TestEndpointSweep(t *testing.T) {
	sim := cmlsim.New(cmlsim.Options{NodeBootDelay: time.Second})
	a := newAPI(t, sim)
	before := oascheck.MustLoad(t).Validated()
	id := a.importLab(sampleLab(t))
	var nodeIDs []string
	a.do("GET", "labs/"+id+"/nodes", nil, 200, &nodeIDs)

	sweep := func() {
		for _, p := range []string{
			"authok", "users", "users/admin/id", "users/" + cmlsim.AdminUserID,
			"labs", "labs?show_all=true", "labs/" + id, "labs/" + id + "/state", "labs/" + id + "/check_if_converged",
			"labs/" + id + "/topology", "labs/" + id + "/topology?exclude_configurations=true",
			"labs/" + id + "/topology?exclude_configurations=false", "labs/" + id + "/download",
			"labs/" + id + "/events", "labs/" + id + "/lab_element_state", "labs/" + id + "/simulation_stats",
			"labs/" + id + "/layer3_addresses", "labs/" + id + "/resource_pools", "labs/" + id + "/annotations",
			"labs/" + id + "/smart_annotations", "labs/" + id + "/nodes", "labs/" + id + "/nodes?data=true",
			"labs/" + id + "/nodes?data=true&operational=true&exclude_configurations=true",
			"labs/" + id + "/links", "labs/" + id + "/links?data=true",
			"labs/" + id + "/nodes/" + nodeIDs[0], "labs/" + id + "/nodes/" + nodeIDs[0] + "?operational=true",
			"labs/" + id + "/nodes/" + nodeIDs[0] + "/state", "labs/" + id + "/nodes/" + nodeIDs[0] + "/check_if_converged",
			"nodes", "nodes?operational=true", "populate_lab_tiles", "resource_pools", "resource_pools?data=true",
			"system_information", "system_stats", "system_health", "system/compute_hosts", "system/notices",
			"system/maintenance_mode", "web_session_timeout", "diagnostics/licensing", "diagnostics/user_list",
			"telemetry/events", "telemetry", "licensing", "licensing/features", "licensing/tech_support",
			"node_definitions", "node_definitions/alpine", "node_definitions/alpine/image_definitions",
			"simplified_node_definitions", "image_definitions", "image_definitions/alpine-base-3-21-3",
		} {
			a.do("GET", p, nil, 200, nil)
		}
	}
	sweep() // DEFINED_ON_CORE
	a.do("PUT", "labs/"+id+"/start", nil, 204, nil)
	sweep() // booting (QUEUED)
	a.do("PUT", "labs/"+id+"/stop", nil, 204, nil)
	sweep() // STOPPED
	a.do("PUT", "labs/"+id+"/wipe", nil, 204, nil)

	// Errors, as CML sends them.
	a.do("GET", "labs/90f84e38-a71c-4d57-8d90-00fa8a197385", nil, 404, nil)
	a.do("GET", "labs/"+id+"/nodes/90f84e38-a71c-4d57-8d90-00fa8a197385", nil, 404, nil)
	a.do("GET", "diagnostics/computes", nil, 404, nil)
	a.do("GET", "node_definitions/nope", nil, 404, nil)
	a.do("DELETE", "logout", nil, 200, nil)
	a.do("GET", "authok", nil, 401, nil)
	if n := oascheck.MustLoad(t).Validated() - before; n < 150 {
		t.Errorf("only %d responses validated", n)
	}
}

func TestAuthentication(t *testing.T) {
	sim := cmlsim.New(cmlsim.Options{Username: "root", Password: "pw"})
	srv := httptest.NewServer(oascheck.Handler(t, sim))
	t.Cleanup(srv.Close)
	a := &api{t: t, base: srv.URL + "/api/v0/"}

	// No token: 401 everywhere but the public endpoints.
	a.do("GET", "labs", nil, 401, nil)
	a.do("GET", "system_information", nil, 200, nil)
	a.do("GET", "system/maintenance_mode", nil, 200, nil)
	// Bad credentials are 403 (virl2-client relies on it).
	var e struct {
		Code        int    `json:"code"`
		Description string `json:"description"`
	}
	a.do("POST", "authenticate", map[string]string{"username": "root", "password": "nope"}, 403, &e)
	if e.Code != 403 || e.Description == "" {
		t.Errorf("error body %+v", e)
	}
	var ext struct {
		Username, ID, Token string
		Admin               bool
	}
	a.do("POST", "auth_extended", map[string]string{"username": "root", "password": "pw"}, 200, &ext)
	if ext.Username != "root" || ext.ID != cmlsim.AdminUserID || !ext.Admin || strings.Count(ext.Token, ".") != 2 {
		t.Errorf("auth_extended = %+v", ext)
	}
	a.token = ext.Token
	var uid string
	a.do("GET", "users/root/id", nil, 200, &uid)
	if uid != cmlsim.AdminUserID {
		t.Errorf("users/root/id = %s", uid)
	}

	// A non-admin cannot read licensing or telemetry, and sees only its labs.
	sim.AddUser("bob", "bob-pw", false)
	b := &api{t: t, base: a.base}
	b.login("bob", "bob-pw")
	b.do("GET", "licensing", nil, 403, nil)
	b.do("GET", "telemetry/events", nil, 403, nil)
	adminLab := a.importLab(alpineLab(1))
	b.do("GET", "labs/"+adminLab, nil, 404, nil)
	var ids []string
	b.do("GET", "labs?show_all=true", nil, 200, &ids)
	if len(ids) != 0 {
		t.Errorf("bob sees %v", ids)
	}

	// Logout revokes the token; expiry does too.
	b.do("DELETE", "logout", nil, 200, nil)
	b.do("GET", "labs", nil, 401, nil)
	sim.ExpireTokens()
	a.do("GET", "labs", nil, 401, nil)
}

func TestLabStateMachine(t *testing.T) {
	a := newAPI(t, cmlsim.New(cmlsim.Options{}))
	id := a.importLab(sampleLab(t))
	steps := []struct {
		method, action string
		wantStatus     int
		wantState      string
	}{
		{"PUT", "stop", 204, "DEFINED_ON_CORE"}, // stopping a lab that never ran: no-op
		{"PUT", "wipe", 204, "DEFINED_ON_CORE"},
		{"PUT", "start", 204, "STARTED"},
		{"PUT", "start", 204, "STARTED"}, // idempotent
		{"PUT", "wipe", 400, "STARTED"},
		{"DELETE", "", 400, "STARTED"},
		{"PUT", "stop", 204, "STOPPED"},
		{"DELETE", "", 400, "STOPPED"},
		{"PUT", "start", 204, "STARTED"}, // restart from disks
		{"PUT", "stop", 204, "STOPPED"},
		{"PUT", "wipe", 204, "DEFINED_ON_CORE"},
		{"DELETE", "", 204, ""},
	}
	for i, s := range steps {
		path := "labs/" + id
		if s.action != "" {
			path += "/" + s.action
		}
		status, body := a.raw(s.method, path, nil)
		if status != s.wantStatus {
			t.Fatalf("step %d: %s %s = %d %s, want %d", i, s.method, s.action, status, body, s.wantStatus)
		}
		if s.wantState != "" {
			if got := a.labState(id); got != s.wantState {
				t.Fatalf("step %d: state %s, want %s", i, got, s.wantState)
			}
		}
	}
	_, body := a.raw("GET", "labs/"+id, nil)
	if !strings.Contains(string(body), "Lab not found: "+id) {
		t.Errorf("404 body %s lacks CML's 'Lab not found: <id>'", body)
	}
}

func TestNodeBootProgress(t *testing.T) {
	clock := newFakeClock()
	sim := cmlsim.New(cmlsim.Options{Clock: clock.Now, NodeBootDelay: 10 * time.Second})
	a := newAPI(t, sim)
	id := a.importLab(alpineLab(2))
	a.do("PUT", "labs/"+id+"/start", nil, 204, nil)

	nodeStates := func() []string {
		var es struct{ Nodes map[string]string }
		a.do("GET", "labs/"+id+"/lab_element_state", nil, 200, &es)
		var out []string
		for _, s := range es.Nodes {
			out = append(out, s)
		}
		return out
	}
	converged := func() bool {
		var b bool
		a.do("GET", "labs/"+id+"/check_if_converged", nil, 200, &b)
		return b
	}
	steps := []struct {
		after     time.Duration
		want      string
		converged bool
	}{
		{0, "QUEUED", false},
		{2 * time.Second, "STARTED", false},
		{7 * time.Second, "STARTED", false},
		{time.Second, "BOOTED", true},
	}
	for _, s := range steps {
		clock.Advance(s.after)
		for _, st := range nodeStates() {
			if st != s.want {
				t.Fatalf("after +%s: node state %s, want %s", s.after, st, s.want)
			}
		}
		if got := converged(); got != s.converged {
			t.Fatalf("after +%s: converged %v", s.after, got)
		}
		if a.labState(id) != "STARTED" {
			t.Fatal("lab not STARTED while nodes run")
		}
	}

	// Telemetry carries the times transitions were due.
	var ev []struct {
		Category  string    `json:"category"`
		Timestamp time.Time `json:"timestamp"`
	}
	a.do("GET", "telemetry/events", nil, 200, &ev)
	start := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	want := map[string]time.Time{"queue_node": start, "start_node": start.Add(2 * time.Second), "boot_node": start.Add(10 * time.Second)}
	for _, e := range ev {
		if w, ok := want[e.Category]; ok && !e.Timestamp.Equal(w) {
			t.Errorf("%s at %s, want %s", e.Category, e.Timestamp, w)
		}
	}
}

func TestImportValidation(t *testing.T) {
	a := newAPI(t, cmlsim.New(cmlsim.Options{}))
	node := func(extra string) string {
		return "  - {id: n0, label: a, node_definition: alpine, x: 0, y: 0" + extra + "}\n"
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"not YAML", "lab: [", "not valid YAML"},
		{"no lab section", "nodes: []\nlinks: []\n", "no 'lab' section"},
		{"bad version", "lab: {version: 9.9.9}\nnodes: []\nlinks: []\n", "schema version"},
		{"no nodes", "lab: {version: 0.3.0}\nlinks: []\n", "'nodes'"},
		{"missing coordinates", "lab: {version: 0.3.0}\nnodes:\n  - {id: n0, label: a, node_definition: alpine}\nlinks: []\n", "'x' and 'y'"},
		{"unknown node definition", "lab: {version: 0.3.0}\nnodes:\n  - {id: n0, label: a, node_definition: warp-drive, x: 0, y: 0}\nlinks: []\n", "node definition"},
		{"duplicate node id", "lab: {version: 0.3.0}\nnodes:\n" + node("") + node("") + "links: []\n", "duplicate node id"},
		{"bad interface type", "lab: {version: 0.3.0}\nnodes:\n" + node(", interfaces: [{id: i0, type: serial}]") + "links: []\n", "physical or loopback"},
		{"link to unknown interface", "lab: {version: 0.3.0}\nnodes:\n" + node(", interfaces: [{id: i0, type: physical}]") +
			"links:\n  - {id: l0, n1: n0, i1: i0, n2: n0, i2: i9}\n", "unknown interface"},
		{"interface used twice", "lab: {version: 0.3.0}\nnodes:\n" + node(", interfaces: [{id: i0, type: physical}]") +
			"  - {id: n1, label: b, node_definition: alpine, x: 0, y: 0, interfaces: [{id: i0, type: physical}, {id: i1, type: physical, slot: 1}]}\n" +
			"links:\n  - {id: l0, n1: n0, i1: i0, n2: n1, i2: i0}\n  - {id: l1, n1: n0, i1: i0, n2: n1, i2: i1}\n", "one link only"},
		{"cpus out of range", "lab: {version: 0.3.0}\nnodes:\n" + node(", cpus: 500") + "links: []\n", "cpus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e struct {
				Code        int    `json:"code"`
				Description string `json:"description"`
			}
			a.do("POST", "import", []byte(tt.yaml), 400, &e)
			if e.Code != 400 || !strings.Contains(e.Description, tt.want) {
				t.Errorf("description %q does not mention %q", e.Description, tt.want)
			}
		})
	}

	// JSON is YAML too, whatever the Content-Type says; ?title wins.
	id := a.importLab([]byte(`{"lab": {"version": "0.2.2", "title": "json"}, "nodes": [], "links": []}`))
	var lab struct {
		Title string `json:"lab_title"`
	}
	a.do("GET", "labs/"+id, nil, 200, &lab)
	if lab.Title != "json" {
		t.Errorf("title %q", lab.Title)
	}
	var res struct{ ID string }
	a.do("POST", "import?title=override", alpineLab(1), 200, &res)
	a.do("GET", "labs/"+res.ID, nil, 200, &lab)
	if lab.Title != "override" {
		t.Errorf("?title= ignored: %q", lab.Title)
	}
}

func TestDownloadRoundTrip(t *testing.T) {
	a := newAPI(t, cmlsim.New(cmlsim.Options{}))
	id := a.importLab(sampleLab(t))
	_, y1 := a.raw("GET", "labs/"+id+"/download", nil)
	id2 := a.importLab(y1)
	_, y2 := a.raw("GET", "labs/"+id2+"/download", nil)
	if !bytes.Equal(y1, y2) {
		t.Errorf("download → import → download changed the topology:\n%s\n---\n%s", y1, y2)
	}
	for _, want := range []string{"version: 0.3.0", "node_definition: mock-server", "label: ubuntu-desktop-ens3<->vmanage-mock-eth0", "text_content: 192.168.10.0/24", "tag: vnc:5044", "- name: network-config"} {
		if !bytes.Contains(y1, []byte(want)) {
			t.Errorf("download lacks %q", want)
		}
	}
}

func TestLoadFollowsNodes(t *testing.T) {
	sim := cmlsim.New(cmlsim.Options{})
	a := newAPI(t, sim)
	idle := sim.Load()
	if idle.RunningNodes != 0 || idle.CPUPercent <= 0 || idle.CPUPercent > 5 || idle.MemoryPercent <= 0 {
		t.Fatalf("idle load %+v", idle)
	}
	id := a.importLab(alpineLab(4))
	a.do("PUT", "labs/"+id+"/start", nil, 204, nil)
	busy := sim.Load()
	if busy.RunningNodes != 4 || busy.TotalNodes != 4 || busy.RunningLabs != 1 ||
		busy.CPUPercent <= idle.CPUPercent || busy.MemoryPercent <= idle.MemoryPercent || busy.DiskPercent <= idle.DiskPercent {
		t.Fatalf("running load %+v (idle %+v)", busy, idle)
	}
	var stats struct {
		All struct {
			CPU struct{ Percent float64 }
		}
		Computes map[string]struct {
			Stats struct {
				DomInfo struct {
					RunningNodes  int `json:"running_nodes"`
					AllocatedCPUs int `json:"allocated_cpus"`
				}
			}
		}
	}
	a.do("GET", "system_stats", nil, 200, &stats)
	for _, c := range stats.Computes {
		if c.Stats.DomInfo.RunningNodes != 4 || c.Stats.DomInfo.AllocatedCPUs != 4 {
			t.Errorf("dominfo %+v", c.Stats.DomInfo)
		}
	}
	if stats.All.CPU.Percent != busy.CPUPercent {
		t.Errorf("system_stats CPU %v, Load %v", stats.All.CPU.Percent, busy.CPUPercent)
	}
	a.do("PUT", "labs/"+id+"/stop", nil, 204, nil)
	stopped := sim.Load()
	if stopped.RunningNodes != 0 || stopped.CPUPercent != idle.CPUPercent || stopped.DiskPercent != busy.DiskPercent {
		t.Errorf("stopped load %+v: disks stay until wiped", stopped)
	}
	a.do("PUT", "labs/"+id+"/wipe", nil, 204, nil)
	if w := sim.Load(); w.DiskPercent != idle.DiskPercent {
		t.Errorf("wiped load %+v", w)
	}
}

func TestSaveStateRestore(t *testing.T) {
	clock := newFakeClock()
	sim := cmlsim.New(cmlsim.Options{Clock: clock.Now, RegistrationDelay: time.Second})
	a := newAPI(t, sim)
	running := a.importLab(alpineLab(2))
	stopped := a.importLab(sampleLab(t))
	a.do("PUT", "labs/"+running+"/start", nil, 204, nil)
	a.do("PUT", "labs/"+stopped+"/start", nil, 204, nil)
	a.do("PUT", "labs/"+stopped+"/stop", nil, 204, nil)
	a.do("POST", "licensing/registration", map[string]any{"token": "abc123", "reregister": false}, 204, nil)
	clock.Advance(2 * time.Second)
	bobID := sim.AddUser("bob", "bob-pw", false)
	var events []json.RawMessage
	a.do("GET", "telemetry/events", nil, 200, &events)

	saved, err := sim.SaveState()
	if err != nil {
		t.Fatal(err)
	}
	// The instance stops and starts: a new process, same disk.
	restored := cmlsim.New(cmlsim.Options{Clock: clock.Now, State: saved})
	b := newAPI(t, restored)
	var ids []string
	b.do("GET", "labs", nil, 200, &ids)
	if len(ids) != 2 {
		t.Fatalf("restored labs %v", ids)
	}
	if s := b.labState(running); s != "STOPPED" {
		t.Errorf("a lab running at the stop comes back %s, want STOPPED (VMs gone, disks kept)", s)
	}
	if s := b.labState(stopped); s != "STOPPED" {
		t.Errorf("stopped lab came back %s", s)
	}
	var lic struct{ Registration struct{ Status string } }
	b.do("GET", "licensing", nil, 200, &lic)
	if lic.Registration.Status != "COMPLETED" {
		t.Errorf("licence after restore: %s", lic.Registration.Status)
	}
	var after []json.RawMessage
	b.do("GET", "telemetry/events", nil, 200, &after)
	if len(after) < len(events) {
		t.Errorf("telemetry lost: %d → %d events", len(events), len(after))
	}
	var uid string
	b.do("GET", "users/bob/id", nil, 200, &uid)
	if uid != bobID {
		t.Errorf("bob's id %s, want %s", uid, bobID)
	}
	// The restored lab still works.
	b.do("PUT", "labs/"+running+"/start", nil, 204, nil)
	if l := restored.Load(); l.RunningNodes != 2 {
		t.Errorf("restart after restore: %+v", l)
	}

	// An unreadable state is ignored, not fatal.
	if l := cmlsim.New(cmlsim.Options{State: []byte("{garbage")}).Load(); l.TotalLabs != 0 {
		t.Errorf("garbage state: %+v", l)
	}
}

func TestLicensing(t *testing.T) {
	clock := newFakeClock()
	sim := cmlsim.New(cmlsim.Options{Clock: clock.Now, RegistrationDelay: 5 * time.Second})
	a := newAPI(t, sim)
	big := a.importLab(alpineLab(6))

	var e struct{ Description string }
	a.do("PUT", "labs/"+big+"/start", nil, 400, &e)
	if !strings.Contains(e.Description, "licensed node count of 5") {
		t.Errorf("unlicensed start of 6 nodes: %q", e.Description)
	}
	var diag struct {
		Quota   *int `json:"quota"`
		Started int  `json:"started"`
	}
	a.do("GET", "diagnostics/licensing", nil, 200, &diag)
	if diag.Quota == nil || *diag.Quota != 5 || diag.Started != 0 {
		t.Errorf("diagnostics/licensing %+v", diag)
	}

	a.do("POST", "licensing/registration", map[string]any{"token": "not a token!"}, 400, nil)
	a.do("POST", "licensing/registration", map[string]any{"token": "abc123"}, 204, nil)
	a.do("POST", "licensing/registration", map[string]any{"token": "abc123"}, 409, nil)
	var lic struct {
		Registration  struct{ Status string }
		Authorization struct{ Status string }
		Transport     struct {
			DefaultSSMS string `json:"default_ssms"`
		}
	}
	a.do("GET", "licensing", nil, 200, &lic)
	if lic.Registration.Status != "IN_PROGRESS" || lic.Transport.DefaultSSMS == "" {
		t.Fatalf("while registering: %+v", lic)
	}
	clock.Advance(5 * time.Second)
	a.do("GET", "licensing", nil, 200, &lic)
	if lic.Registration.Status != "COMPLETED" || lic.Authorization.Status != "IN_COMPLIANCE" {
		t.Fatalf("after the delay: %+v", lic)
	}
	a.do("PUT", "labs/"+big+"/start", nil, 204, nil) // Enterprise: 20 nodes
	a.do("PUT", "licensing/product_license", "CML_Personal", 400, nil)
	a.do("PATCH", "licensing/features", []map[string]any{{"id": "regid.2019-10.com.cisco.CML_NODE_COUNT,1.0_2607650b-6ca8-46d5-81e5-e6688b7383c4", "count": 10}}, 204, nil)
	a.do("GET", "diagnostics/licensing", nil, 200, &diag)
	if *diag.Quota != 30 || diag.Started != 6 {
		t.Errorf("with 10 expansion nodes: %+v", diag)
	}
	a.do("PUT", "licensing/transport", map[string]any{"ssms": nil, "proxy": map[string]any{"server": nil, "port": nil}}, 204, nil)
	a.do("PUT", "licensing/registration/renew", nil, 204, nil)
	a.do("PUT", "licensing/authorization/renew", nil, 204, nil)

	a.do("DELETE", "licensing/deregistration", nil, 400, &e)
	if e.Description != "Licensing issue: Cannot de-register when nodes are running." {
		t.Errorf("deregister with nodes running: %q", e.Description)
	}
	a.do("PUT", "labs/"+big+"/stop", nil, 204, nil)
	a.do("DELETE", "licensing/deregistration", nil, 204, nil)
	a.do("DELETE", "licensing/deregistration", nil, 400, &e)
	if e.Description != "Licensing issue: The product has already been de-registered." {
		t.Errorf("second deregister: %q", e.Description)
	}
	a.do("PUT", "licensing/product_license", "CML_Personal", 204, nil)

	// A failing registration ends FAILED.
	sim.SetFaults(cmlsim.Faults{RegistrationFails: true})
	a.do("POST", "licensing/registration", map[string]any{"token": "abc123"}, 204, nil)
	clock.Advance(5 * time.Second)
	a.do("GET", "licensing", nil, 200, &lic)
	if lic.Registration.Status != "FAILED" {
		t.Errorf("failing registration: %+v", lic)
	}
}

func TestBootDelay(t *testing.T) {
	clock := newFakeClock()
	a := newAPI(t, cmlsim.New(cmlsim.Options{Clock: clock.Now, BootDelay: time.Minute}))
	var si struct{ Ready bool }
	a.do("GET", "system_information", nil, 200, &si)
	if si.Ready {
		t.Fatal("ready during boot")
	}
	clock.Advance(time.Minute)
	a.do("GET", "system_information", nil, 200, &si)
	if !si.Ready {
		t.Fatal("not ready after the boot delay")
	}
}

func TestFaults(t *testing.T) {
	sim := cmlsim.New(cmlsim.Options{})
	a := newAPI(t, sim)

	sim.SetFaults(cmlsim.Faults{Unavailable: true})
	a.do("GET", "system_information", nil, 502, nil)
	sim.SetFaults(cmlsim.Faults{ErrorRate: 1})
	a.do("GET", "labs", nil, 503, nil)
	sim.SetFaults(cmlsim.Faults{FailNext: 2, ErrorStatus: 500, FailPaths: []string{"/labs"}})
	a.do("GET", "system_information", nil, 200, nil) // not a /labs path
	a.do("GET", "labs", nil, 500, nil)
	a.do("GET", "labs", nil, 500, nil)
	a.do("GET", "labs", nil, 200, nil)
	sim.SetFaults(cmlsim.Faults{Latency: 50 * time.Millisecond})
	start := time.Now()
	a.do("GET", "labs", nil, 200, nil)
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("latency fault: answered in %s", d)
	}
	sim.SetFaults(cmlsim.Faults{NotReady: true})
	var si struct{ Ready bool }
	a.do("GET", "system_information", nil, 200, &si)
	if si.Ready {
		t.Error("NotReady: still ready")
	}
}

func TestMain_CLI(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	state := t.TempDir() + "/state.json"
	go func() {
		done <- cmlsim.Main(ctx, []string{"--addr", "127.0.0.1:0", "--plain-http", "--user", "u", "--password", "p", "--state", state}, pw)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	i := strings.Index(line, "http://")
	if i < 0 {
		t.Fatalf("no URL in %q", line)
	}
	url := strings.Fields(line[i:])[0]
	res, err := http.Post(url+"authenticate", "application/json", strings.NewReader(`{"username":"u","password":"p"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("login with the flag credentials: %d", res.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Main: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Main did not return after cancel")
	}
	if b, err := os.ReadFile(state); err != nil || !bytes.Contains(b, []byte(`"user_activity"`)) {
		t.Errorf("state file not written with the login: %v", err)
	}

	if err := cmlsim.Main(context.Background(), []string{"--bogus"}, io.Discard); err == nil {
		t.Error("unknown flag accepted")
	}
}
