package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"

	"github.com/cmlcm/cmlcm/internal/api"
	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/cml"
	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/fleet"
	"github.com/cmlcm/cmlcm/internal/local"
	"github.com/cmlcm/cmlcm/internal/routes"
	"github.com/cmlcm/cmlcm/internal/sandbox"
	"github.com/cmlcm/cmlcm/internal/secrets"
)

// Roles of the RBAC matrix: "" is an unauthenticated request, guest a
// signed-in person with no role.
var allRoles = []string{"", "guest", routes.RoleUser, routes.RoleManager, routes.RoleAdmin}

// testAuthenticator stands for a token issuer until internal/auth's
// development provider is wired (then the tokens come from it): the bearer
// token "test-<role>" signs in as <role>; "test-guest" has no role.
type testAuthenticator struct{}

func (testAuthenticator) Authenticate(r *http.Request) (api.Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return api.Principal{}, api.ErrNoCredentials
	}
	tok, ok := strings.CutPrefix(h, "Bearer ")
	role, ok2 := strings.CutPrefix(tok, "test-")
	if !ok || !ok2 || !map[string]bool{"guest": true, "user": true, "manager": true, "admin": true}[role] {
		return api.Principal{}, fmt.Errorf("unknown token")
	}
	p := api.Principal{Subject: "sub-" + role, Username: role, Issuer: "test", ExpiresAt: time.Now().Add(time.Hour)}
	if role != "guest" {
		p.Roles = []string{role}
	}
	return p, nil
}

func bearer(role string) string {
	if role == "" {
		return ""
	}
	return "Bearer test-" + role
}

// fakeAutomation records what the service hands to the automation.
type fakeAutomation struct {
	mu                               sync.Mutex
	provisioned, imported, refreshed []string
	registrations, deregistrations   []string
}

func (f *fakeAutomation) add(list *[]string, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	*list = append(*list, id)
	return nil
}
func (f *fakeAutomation) StartProvisioning(_ context.Context, id string) error {
	return f.add(&f.provisioned, id)
}
func (f *fakeAutomation) StartImport(_ context.Context, id string) error {
	return f.add(&f.imported, id)
}
func (f *fakeAutomation) Refresh(_ context.Context, id string) error { return f.add(&f.refreshed, id) }
func (f *fakeAutomation) StartRegistration(_ context.Context, id string, _ bool) error {
	return f.add(&f.registrations, id)
}
func (f *fakeAutomation) StartDeregistration(_ context.Context, id string) error {
	return f.add(&f.deregistrations, id)
}

// syncBuffer collects log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type env struct {
	t       *testing.T
	rt      *local.Runtime
	srv     *httptest.Server
	auto    *fakeAutomation
	logs    *syncBuffer
	dataDir string
	creds   secrets.Credentials
	oas     validator.Validator
	oasMu   sync.Mutex

	mu     sync.Mutex
	bodies bytes.Buffer // every response body, for the secrets check
}

// routeMux matches the table's operations (nothing else).
var routeMux = func() *http.ServeMux {
	m := http.NewServeMux()
	for _, r := range routes.All {
		m.Handle(r.Pattern(), http.NotFoundHandler())
	}
	return m
}()

var (
	oasOnce sync.Once
	oasDoc  libopenapi.Document
	oasErr  error
)

// newEnv runs the local server's handler on a fresh local runtime (bbolt,
// sandbox with second-long lifecycles, CML simulators over HTTP).
func newEnv(t *testing.T) *env {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	dir := t.TempDir()
	creds := secrets.Credentials{Username: "admin", Password: fmt.Sprintf("cml-pw-%d", time.Now().UnixNano())}
	rt, err := local.OpenRuntime(local.RuntimeOptions{DataDir: dir, TimeScale: 1, PlainHTTP: true, Logger: log,
		CMLCredentials: creds,
		Durations: sandbox.Durations{Pending: 150 * time.Millisecond, StatusChecks: 100 * time.Millisecond,
			CMLBoot: 300 * time.Millisecond, Stopping: 150 * time.Millisecond, ShuttingDown: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	auto := &fakeAutomation{}
	rt.Fleet.SetAutomation(auto, auto, auto)
	h, err := local.Handler(rt, local.Config{Authenticator: testAuthenticator{}, Logger: log, Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		if err := rt.Close(); err != nil {
			t.Errorf("close runtime: %v", err)
		}
	})
	oasOnce.Do(func() {
		b, err := api.Document("test", "")
		if err != nil {
			oasErr = err
			return
		}
		oasDoc, oasErr = libopenapi.NewDocument(b)
	})
	if oasErr != nil {
		t.Fatal(oasErr)
	}
	v, errs := validator.NewValidator(oasDoc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	return &env{t: t, rt: rt, srv: srv, auto: auto, logs: logs, dataDir: dir, creds: creds, oas: v}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r response) problem(t *testing.T) api.Problem {
	t.Helper()
	var p api.Problem
	r.json(t, &p)
	return p
}

// req sends a request as role; body is sent as is when []byte or string,
// else as JSON. Every response is checked against the OpenAPI document.
func (e *env) req(method, path, role string, body any, header ...string) response {
	e.t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if b := bearer(role); b != "" {
		req.Header.Set("Authorization", b)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	e.mu.Lock()
	e.bodies.Write(b)
	e.bodies.WriteByte('\n')
	e.mu.Unlock()
	e.conform(req, resp, b)
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// conform validates a response against the OpenAPI document.
func (e *env) conform(req *http.Request, resp *http.Response, body []byte) {
	e.t.Helper()
	if req.URL.Path == "/api/docs" || !strings.HasPrefix(req.URL.Path, "/api/") {
		return
	}
	if _, pattern := routeMux.Handler(req); pattern == "" {
		return // no such operation: the 404/405 problem is not in the document
	}
	vreq := req.Clone(context.Background())
	vreq.Body = http.NoBody
	vresp := &http.Response{StatusCode: resp.StatusCode, Header: resp.Header.Clone(), Body: io.NopCloser(bytes.NewReader(body)), Request: vreq}
	e.oasMu.Lock()
	ok, errs := e.oas.ValidateHttpResponse(vreq, vresp)
	e.oasMu.Unlock()
	if !ok {
		var b strings.Builder
		for _, err := range errs {
			fmt.Fprintf(&b, "\n  - %s: %s", err.Message, err.Reason)
			for _, s := range err.SchemaValidationErrors {
				fmt.Fprintf(&b, "\n      %s (at %s)", s.Reason, s.FieldPath)
			}
		}
		e.t.Errorf("%s %s → %d does not conform to the OpenAPI document:%s\n  body: %.400s", req.Method, req.URL.RequestURI(), resp.StatusCode, b.String(), body)
	}
}

func (e *env) want(r response, status int) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

func (e *env) wantProblem(r response, status int, slug string) {
	e.t.Helper()
	e.want(r, status)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		e.t.Fatalf("content type %q for a problem", ct)
	}
	if p := r.problem(e.t); p.Type != api.ProblemBase+slug || p.Status != status || p.RequestID == "" {
		e.t.Fatalf("problem %+v, want type %s", p, slug)
	}
}

// eventually polls cond until it holds or the time is up.
func (e *env) eventually(what string, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func (e *env) worker(id string) fleet.Worker {
	e.t.Helper()
	var w fleet.Worker
	r := e.req("GET", "/api/workers/"+id, "admin", nil)
	e.want(r, 200)
	r.json(e.t, &w)
	return w
}

// runningWorker launches a sandbox instance, imports it through the API
// and waits until it runs and its CML answers.
func (e *env) runningWorker(name, region string) string {
	e.t.Helper()
	ctx := event.WithMeta(context.Background(), event.Meta{Actor: "test"})
	in, err := e.rt.Sandbox.Launch(ctx, cloud.LaunchSpec{WorkerID: "launch-" + name, Region: region, Name: name,
		AMIID: sandbox.DefaultImages[0].ID, InstanceType: "m5zn.metal"})
	if err != nil {
		e.t.Fatal(err)
	}
	// Import it running: the EC2 notifications carry no address, and the
	// refresh that would fetch one is the automation's.
	e.eventually(name+" instance running", func() bool {
		found, err := e.rt.Sandbox.Describe(ctx, region, []string{in.ID})
		return err == nil && len(found) == 1 && found[0].State == cloud.StateRunning && found[0].CMLURL() != ""
	})
	r := e.req("POST", "/api/workers/import", "admin", fleet.ImportRequest{Region: region, InstanceID: in.ID, Name: name})
	e.want(r, 202)
	var res fleet.ImportResult
	r.json(e.t, &res)
	if len(res.Imported) != 1 {
		e.t.Fatalf("import: %s", r.body)
	}
	id := res.Imported[0].ID
	e.eventually(name+" running", func() bool { return e.worker(id).Status == "running" })
	c := cml.New(e.worker(id).Endpoint, cml.WithCredentials(e.creds.Username, e.creds.Password))
	e.eventually(name+" CML ready", func() bool {
		info, err := c.SystemInformation(ctx)
		return err == nil && info.Ready
	})
	return id
}
