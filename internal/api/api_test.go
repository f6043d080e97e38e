package api_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/api"
	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/fleet"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/telemetry"
)

const unknownID = "00000000-0000-0000-0000-000000000000"

// TestAPI exercises every route on the local runtime (bbolt store,
// projector, sandbox cloud with CML simulators): success and the 400, 401,
// 403, 404 and 409 answers where they apply. Every response is checked
// against the OpenAPI document. At the end, no secret used along the way
// may appear in the store, the logs or any response.
func TestAPI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	licenseToken := fmt.Sprintf("LICENSE-TOKEN-%d", time.Now().UnixNano())
	lab, err := os.ReadFile(filepath.Join("testdata", "sample-lab.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	t.Run("system", func(t *testing.T) {
		e.t = t
		r := e.req("GET", "/api/health", "", nil)
		e.want(r, 200)
		if !strings.Contains(string(r.body), `"mode":"local"`) {
			t.Errorf("health %s", r.body)
		}
		e.wantProblem(e.req("GET", "/api/nope", "", nil), 404, "not-found")
		r = e.req("PATCH", "/api/workers", "admin", nil)
		e.wantProblem(r, 405, "method-not-allowed")
		if allow := r.header.Get("Allow"); allow != "GET, POST" {
			t.Errorf("Allow %q", allow)
		}
		r = e.req("GET", "/api/auth/me", "guest", nil)
		e.want(r, 200)
		var me api.Principal
		r.json(t, &me)
		if me.Username != "guest" || len(me.Roles) != 0 {
			t.Errorf("me %+v", me)
		}
		e.wantProblem(e.req("GET", "/api/auth/me", "", nil, "Authorization", "Bearer forged"), 401, "unauthenticated")
		if got := e.req("GET", "/api/workers", "", nil, "Authorization", "Bearer forged").header.Get("WWW-Authenticate"); !strings.Contains(got, "invalid_token") {
			t.Errorf("WWW-Authenticate %q", got)
		}
		if e.req("GET", "/api/health", "", nil, "X-Request-Id", "abc-123").header.Get("X-Request-Id") != "abc-123" {
			t.Error("request id not echoed")
		}
	})

	var created fleet.Worker
	t.Run("create", func(t *testing.T) {
		e.t = t
		body := map[string]any{"name": "lab-east", "region": "us-east-1", "amiId": "ami-0c3150000000002a9",
			"tags": map[string]string{"team": "blue"}, "licenseToken": licenseToken,
			"idlePolicy": map[string]any{"enabled": true, "timeoutMinutes": 45, "warningMinutes": 5, "snoozeMinutes": 30}}
		r := e.req("POST", "/api/workers", "admin", body)
		e.want(r, 202)
		r.json(t, &created)
		if created.Status != "provisioning" || created.InstanceType != "m5zn.metal" || !created.CML.LicenseTokenConfigured ||
			created.PricePerHour != settings.DefaultPrices()["m5zn.metal"] || r.header.Get("Location") != "/api/workers/"+created.ID {
			t.Errorf("created %s", r.body)
		}
		if len(e.auto.provisioned) != 1 || e.auto.provisioned[0] != created.ID {
			t.Errorf("provisioner got %v", e.auto.provisioned)
		}
		// Reads its own write at once (the read model may lag).
		if w := e.worker(created.ID); w.Name != "lab-east" {
			t.Errorf("get after create: %+v", w)
		}
		for _, c := range []struct {
			body  any
			field string
		}{
			{map[string]any{"name": "x"}, "region"},
			{map[string]any{"name": "x", "region": "us-east-1"}, "amiId"}, // no AMI in the settings
			{map[string]any{"name": "", "region": "us-east-1", "amiId": "ami-1"}, "name"},
			{map[string]any{"name": "x", "region": "us-east-1", "amiId": "ami-1", "tags": map[string]string{"cmlcm:managed": "no"}}, "tags.cmlcm:managed"},
			{map[string]any{"name": "x", "region": "us-east-1", "amiId": "ami-1", "colour": "red"}, "colour"},
			{map[string]any{"name": 5}, "name"},
			{map[string]any{"name": "x", "region": "us-east-1", "amiId": "ami-1", "licenseToken": "has space"}, "licenseToken"},
		} {
			r := e.req("POST", "/api/workers", "admin", c.body)
			e.wantProblem(r, 400, "invalid-request")
			if p := r.problem(t); p.Field != c.field {
				t.Errorf("%v: field %q, want %q (%s)", c.body, p.Field, c.field, p.Detail)
			}
		}
		e.wantProblem(e.req("POST", "/api/workers", "admin", `{"name":`, "Content-Type", "application/json"), 400, "invalid-request")
		e.wantProblem(e.req("POST", "/api/workers", "admin", "", "Content-Type", "application/json"), 400, "invalid-request")
		e.wantProblem(e.req("POST", "/api/workers", "admin", `{} {}`, "Content-Type", "application/json"), 400, "invalid-request")
		e.wantProblem(e.req("POST", "/api/workers", "admin", `{"name":"x"}`, "Content-Type", "text/csv"), 415, "unsupported-media-type")
		big := `{"name":"` + strings.Repeat("x", api.MaxJSONBody) + `"}`
		e.wantProblem(e.req("POST", "/api/workers", "admin", big, "Content-Type", "application/json"), 413, "body-too-large")
		e.wantProblem(e.req("POST", "/api/workers", "manager", map[string]any{}), 403, "forbidden")
		e.wantProblem(e.req("POST", "/api/workers", "", map[string]any{}), 401, "unauthenticated")
	})

	var running string
	t.Run("import", func(t *testing.T) {
		e.t = t
		running = e.runningWorker("imported-1", "us-east-1")
		w := e.worker(running)
		if w.Status != "running" || w.Endpoint == "" || w.CostPerHour != w.PricePerHour || !w.Imported {
			t.Errorf("imported %+v", w)
		}
		if len(e.auto.imported) != 1 {
			t.Errorf("imported workers joining the workflow: %v", e.auto.imported)
		}
		// The instance now carries our managed tags.
		found, _ := e.rt.Sandbox.Describe(ctx, "us-east-1", []string{w.InstanceID})
		if found[0].Tags[cloud.TagWorkerID] != running || found[0].Tags[cloud.TagManaged] != "true" {
			t.Errorf("instance tags %v", found[0].Tags)
		}
		// Importing it again is a conflict; an unknown instance is a 404.
		e.wantProblem(e.req("POST", "/api/workers/import", "admin", fleet.ImportRequest{Region: "us-east-1", InstanceID: w.InstanceID}), 409, "illegal-transition")
		e.wantProblem(e.req("POST", "/api/workers/import", "admin", fleet.ImportRequest{Region: "us-east-1", InstanceID: "i-0123456789abcdef0"}), 404, "not-found")
		e.wantProblem(e.req("POST", "/api/workers/import", "admin", fleet.ImportRequest{Region: "us-east-1"}), 400, "invalid-request")
		e.wantProblem(e.req("POST", "/api/workers/import", "user", fleet.ImportRequest{}), 403, "forbidden")

		// Discovery by tag, previewed first.
		for i := range 2 {
			if _, err := e.rt.Sandbox.Launch(ctx, cloud.LaunchSpec{WorkerID: fmt.Sprintf("disc-%d", i), Region: "eu-west-1",
				Name: fmt.Sprintf("found-%d", i), AMIID: "ami-0c3150000000002a9", InstanceType: "c5n.metal",
				Tags: map[string]string{"fleet": "training"}}); err != nil {
				t.Fatal(err)
			}
		}
		// Imported running (the notifications of their boot reach no worker,
		// and the refresh that would catch up is the automation's).
		e.eventually("discovered instances running", func() bool {
			found, err := e.rt.Sandbox.Discover(ctx, "eu-west-1", cloud.DiscoverFilter{Tags: map[string]string{"fleet": ""}, States: []cloud.State{cloud.StateRunning}})
			return err == nil && len(found) == 2
		})
		r := e.req("POST", "/api/workers/import", "admin", fleet.ImportRequest{Region: "eu-west-1", TagKey: "fleet", TagValue: "training", Preview: true})
		e.want(r, 200)
		var prev fleet.ImportResult
		r.json(t, &prev)
		if !prev.Preview || len(prev.Candidates) != 2 || len(prev.Imported) != 0 {
			t.Fatalf("preview %s", r.body)
		}
		r = e.req("POST", "/api/workers/import", "admin", fleet.ImportRequest{Region: "eu-west-1", TagKey: "fleet"})
		e.want(r, 202)
		var res fleet.ImportResult
		r.json(t, &res)
		if len(res.Imported) != 2 || res.Imported[0].Tags["fleet"] != "training" {
			t.Fatalf("import %s", r.body)
		}
		r = e.req("POST", "/api/workers/import", "admin", fleet.ImportRequest{Region: "eu-west-1", TagKey: "fleet"})
		e.want(r, 200)
		r.json(t, &res)
		if len(res.Imported) != 0 || len(res.Skipped) != 2 {
			t.Errorf("second import %s", r.body)
		}
	})

	t.Run("list and get", func(t *testing.T) {
		e.t = t
		e.eventually("read model", func() bool {
			var page fleet.Page[fleet.Worker]
			e.req("GET", "/api/workers?limit=500", "user", nil).json(t, &page)
			return len(page.Items) == 4
		})
		var page fleet.Page[fleet.Worker]
		r := e.req("GET", "/api/workers?limit=2", "user", nil)
		e.want(r, 200)
		r.json(t, &page)
		if len(page.Items) != 2 || page.Next == "" {
			t.Fatalf("page %s", r.body)
		}
		r = e.req("GET", "/api/workers?limit=2&cursor="+page.Next, "user", nil)
		e.want(r, 200)
		r = e.req("GET", "/api/workers?region=eu-west-1", "user", nil)
		r.json(t, &page)
		if len(page.Items) != 2 {
			t.Errorf("region filter %s", r.body)
		}
		r = e.req("GET", "/api/workers?text=lab-e&status=provisioning", "user", nil)
		r.json(t, &page)
		if len(page.Items) != 1 || page.Items[0].ID != created.ID {
			t.Errorf("text filter %s", r.body)
		}
		e.wantProblem(e.req("GET", "/api/workers?status=asleep", "user", nil), 400, "invalid-request")
		e.wantProblem(e.req("GET", "/api/workers?limit=0", "user", nil), 400, "invalid-request")
		e.wantProblem(e.req("GET", "/api/workers?cursor=garbage!", "user", nil), 400, "invalid-request")
		e.wantProblem(e.req("GET", "/api/workers", "guest", nil), 403, "forbidden")
		e.wantProblem(e.req("GET", "/api/workers/"+unknownID, "user", nil), 404, "not-found")
	})

	t.Run("events and metrics", func(t *testing.T) {
		e.t = t
		e.eventually("history", func() bool {
			var page fleet.Page[fleet.Event]
			e.req("GET", "/api/workers/"+running+"/events", "user", nil).json(t, &page)
			return len(page.Items) >= 1
		})
		r := e.req("GET", "/api/workers/"+running+"/events?limit=1", "user", nil)
		e.want(r, 200)
		if !strings.Contains(string(r.body), `"cml.worker.`) {
			t.Errorf("events %s", r.body)
		}
		e.wantProblem(e.req("GET", "/api/workers/"+running+"/events?cursor=bogus", "user", nil), 400, "invalid-request")
		e.wantProblem(e.req("GET", "/api/workers/"+unknownID+"/events", "user", nil), 404, "not-found")

		now := time.Now().UTC().Truncate(time.Second)
		var samples []telemetry.Sample
		for i := range 3 {
			samples = append(samples, telemetry.Sample{WorkerID: running, At: now.Add(time.Duration(i-3) * time.Minute),
				CPUPercent: telemetry.Float(float64(10 * i)), RunningNodes: telemetry.Int(i)})
		}
		if err := e.rt.Telemetry.Put(ctx, 0, samples...); err != nil {
			t.Fatal(err)
		}
		r = e.req("GET", "/api/workers/"+running+"/metrics?from="+now.Add(-time.Hour).Format(time.RFC3339), "user", nil)
		e.want(r, 200)
		var m api.MetricsResponse
		r.json(t, &m)
		if len(m.Samples) != 3 || *m.Samples[2].CPUPercent != 20 {
			t.Errorf("metrics %s", r.body)
		}
		if w := e.worker(running); w.Metrics == nil || *w.Metrics.RunningNodes != 2 {
			t.Errorf("latest metrics on the worker: %+v", w.Metrics)
		}
		e.wantProblem(e.req("GET", "/api/workers/"+running+"/metrics?from=yesterday", "user", nil), 400, "invalid-request")
		e.wantProblem(e.req("GET", "/api/workers/"+running+"/metrics?from="+now.Format(time.RFC3339)+"&to="+now.Add(-time.Hour).Format(time.RFC3339), "user", nil), 400, "invalid-request")
		e.wantProblem(e.req("GET", "/api/workers/"+unknownID+"/metrics", "user", nil), 404, "not-found")
	})

	var labID string
	t.Run("labs", func(t *testing.T) {
		e.t = t
		r := e.req("POST", "/api/workers/"+running+"/labs?title=Sample", "manager", lab, "Content-Type", "application/yaml")
		e.want(r, 201)
		var l fleet.Lab
		r.json(t, &l)
		labID = l.ID
		if l.Title != "Sample" || l.WorkerID != running || l.NodeCount == 0 || r.header.Get("Location") == "" {
			t.Fatalf("imported lab %s", r.body)
		}
		// Multipart, as the dashboard's file picker sends it.
		var mp bytes.Buffer
		mw := multipart.NewWriter(&mp)
		fw, _ := mw.CreateFormFile("file", "lab.yaml")
		fw.Write(lab)
		mw.WriteField("title", "Second")
		mw.Close()
		r = e.req("POST", "/api/workers/"+running+"/labs", "admin", mp.Bytes(), "Content-Type", mw.FormDataContentType())
		e.want(r, 201)
		var second fleet.Lab
		r.json(t, &second)
		if second.Title != "Second" {
			t.Errorf("multipart import %s", r.body)
		}
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/labs", "manager", "", "Content-Type", "application/yaml"), 400, "invalid-request")
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/labs", "manager", "{}", "Content-Type", "application/json"), 415, "unsupported-media-type")
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/labs", "user", lab, "Content-Type", "application/yaml"), 403, "forbidden")
		e.wantProblem(e.req("POST", "/api/workers/"+unknownID+"/labs", "manager", lab, "Content-Type", "application/yaml"), 404, "not-found")
		e.wantProblem(e.req("POST", "/api/workers/"+created.ID+"/labs", "manager", lab, "Content-Type", "application/yaml"), 409, "illegal-transition")

		e.eventually("lab records", func() bool {
			var page fleet.Page[fleet.Lab]
			e.req("GET", "/api/workers/"+running+"/labs", "user", nil).json(t, &page)
			return len(page.Items) == 2
		})
		r = e.req("GET", "/api/workers/"+running+"/labs/"+labID, "user", nil)
		e.want(r, 200)
		e.wantProblem(e.req("GET", "/api/workers/"+running+"/labs/nope", "user", nil), 404, "not-found")
		e.wantProblem(e.req("GET", "/api/workers/"+unknownID+"/labs", "user", nil), 404, "not-found")

		r = e.req("GET", "/api/workers/"+running+"/labs/"+labID+"/topology", "user", nil)
		e.want(r, 200)
		if r.header.Get("Content-Type") != "application/yaml" || !bytes.Contains(r.body, []byte("nodes:")) {
			t.Errorf("topology %s: %.200s", r.header.Get("Content-Type"), r.body)
		}
		e.wantProblem(e.req("GET", "/api/workers/"+running+"/labs/"+unknownID+"/topology", "user", nil), 404, "not-found")

		r = e.req("POST", "/api/workers/"+running+"/labs/"+labID+"/start", "user", nil)
		e.want(r, 202)
		r.json(t, &l)
		if l.State == "DEFINED_ON_CORE" {
			t.Errorf("started lab %s", r.body)
		}
		// CML refuses to wipe a started lab: an illegal transition.
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/labs/"+labID+"/wipe", "manager", nil), 409, "illegal-transition")
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/labs/"+labID+"/wipe", "user", nil), 403, "forbidden")
		e.want(e.req("POST", "/api/workers/"+running+"/labs/"+labID+"/stop", "user", nil), 202)
		e.want(e.req("POST", "/api/workers/"+running+"/labs/"+labID+"/wipe", "manager", nil), 202)
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/labs/"+unknownID+"/start", "user", nil), 404, "not-found")
		e.wantProblem(e.req("DELETE", "/api/workers/"+running+"/labs/"+labID, "user", nil), 403, "forbidden")
		e.want(e.req("DELETE", "/api/workers/"+running+"/labs/"+labID, "manager", nil), 204)
		e.wantProblem(e.req("DELETE", "/api/workers/"+running+"/labs/"+labID, "manager", nil), 404, "not-found")
		// A lab operation is activity on the worker.
		if w := e.worker(running); w.Idle.LastActivityAt == nil {
			t.Errorf("no activity recorded: %+v", w.Idle)
		}
	})

	t.Run("policies and tags", func(t *testing.T) {
		e.t = t
		r := e.req("PUT", "/api/workers/"+running+"/idle-policy", "manager", map[string]any{"enabled": true, "timeoutMinutes": 90})
		e.want(r, 200)
		var w fleet.Worker
		r.json(t, &w)
		if w.Idle.Policy == nil || w.Idle.Policy.TimeoutMinutes != 90 || w.Idle.Policy.WarningMinutes != 10 {
			t.Errorf("policy %+v", w.Idle.Policy)
		}
		r = e.req("PUT", "/api/workers/"+running+"/idle-policy", "manager", "null", "Content-Type", "application/json")
		e.want(r, 200)
		r.json(t, &w)
		if w.Idle.Policy != nil {
			t.Errorf("policy not cleared: %+v", w.Idle.Policy)
		}
		r = e.req("PUT", "/api/workers/"+running+"/idle-policy", "manager", map[string]any{"timeoutMinutes": 5, "warningMinutes": 10})
		e.wantProblem(r, 400, "invalid-request")
		if p := r.problem(t); p.Field != "idlePolicy.warningMinutes" {
			t.Errorf("field %q", p.Field)
		}
		e.wantProblem(e.req("PUT", "/api/workers/"+running+"/idle-policy", "user", map[string]any{}), 403, "forbidden")
		e.wantProblem(e.req("PUT", "/api/workers/"+unknownID+"/idle-policy", "manager", map[string]any{}), 404, "not-found")

		sch := map[string]any{"timezone": "Europe/Paris", "wakeups": []any{map[string]any{"days": []string{"fri", "mon"}, "at": "08:30"}}}
		r = e.req("PUT", "/api/workers/"+running+"/schedule", "manager", sch)
		e.want(r, 200)
		r.json(t, &w)
		if w.Schedule == nil || w.Schedule.Wakeups[0].Days[0] != "mon" {
			t.Errorf("schedule %+v", w.Schedule)
		}
		e.wantProblem(e.req("PUT", "/api/workers/"+running+"/schedule", "manager", map[string]any{"timezone": "Mars/Olympus", "wakeups": []any{}}), 400, "invalid-request")
		e.want(e.req("PUT", "/api/workers/"+running+"/schedule", "manager", "null", "Content-Type", "application/json"), 200)
		e.wantProblem(e.req("PUT", "/api/workers/"+unknownID+"/schedule", "manager", sch), 404, "not-found")

		r = e.req("PUT", "/api/workers/"+running+"/tags", "admin", map[string]any{"tags": map[string]string{"team": "red", "cost-center": "42"}})
		e.want(r, 200)
		r.json(t, &w)
		if w.Tags["team"] != "red" {
			t.Errorf("tags %v", w.Tags)
		}
		r = e.req("PUT", "/api/workers/"+running+"/tags", "admin", map[string]any{"tags": map[string]string{"team": "green"}})
		e.want(r, 200)
		found, _ := e.rt.Sandbox.Describe(ctx, "us-east-1", []string{w.InstanceID})
		if tags := found[0].Tags; tags["team"] != "green" || tags["cost-center"] != "" || tags[cloud.TagManaged] != "true" {
			t.Errorf("EC2 tags %v", tags)
		}
		r = e.req("PUT", "/api/workers/"+running+"/tags", "admin", map[string]any{"tags": map[string]string{"cmlcm:worker-id": "x"}})
		e.wantProblem(r, 400, "invalid-request")
		e.wantProblem(e.req("PUT", "/api/workers/"+running+"/tags", "admin", map[string]any{}), 400, "invalid-request")
		e.wantProblem(e.req("PUT", "/api/workers/"+running+"/tags", "manager", map[string]any{"tags": map[string]string{}}), 403, "forbidden")
		e.wantProblem(e.req("PUT", "/api/workers/"+unknownID+"/tags", "admin", map[string]any{"tags": map[string]string{}}), 404, "not-found")
	})

	t.Run("license and refresh", func(t *testing.T) {
		e.t = t
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/license", "manager", map[string]any{"licenseToken": "a b"}), 400, "invalid-request")
		r := e.req("POST", "/api/workers/"+running+"/license", "manager", map[string]any{"licenseToken": licenseToken})
		e.want(r, 202)
		var w fleet.Worker
		r.json(t, &w)
		if w.CML.LicenseOperation != "registering" || !w.CML.LicenseTokenConfigured {
			t.Errorf("license %+v", w.CML)
		}
		if tok, err := e.rt.Fleet.LicenseToken(ctx, running); err != nil || tok != licenseToken {
			t.Errorf("stored token %q %v", tok, err)
		}
		// A second job while one runs is a conflict.
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/license", "manager", nil), 409, "illegal-transition")
		e.wantProblem(e.req("DELETE", "/api/workers/"+running+"/license", "manager", nil), 409, "illegal-transition")
		// The provisioning worker cannot register yet.
		e.wantProblem(e.req("POST", "/api/workers/"+created.ID+"/license", "admin", nil), 409, "illegal-transition")
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/license", "user", nil), 403, "forbidden")
		e.wantProblem(e.req("POST", "/api/workers/"+unknownID+"/license", "manager", nil), 404, "not-found")

		var other fleet.Page[fleet.Worker]
		e.req("GET", "/api/workers?region=eu-west-1", "admin", nil).json(t, &other)
		e.eventually("eu worker running", func() bool { return e.worker(other.Items[0].ID).Status == "running" })
		e.want(e.req("DELETE", "/api/workers/"+other.Items[0].ID+"/license", "admin", nil), 202)
		e.wantProblem(e.req("DELETE", "/api/workers/"+unknownID+"/license", "admin", nil), 404, "not-found")

		e.want(e.req("POST", "/api/workers/"+running+"/refresh", "user", nil), 202)
		if len(e.auto.refreshed) != 1 {
			t.Errorf("refreshed %v", e.auto.refreshed)
		}
		e.wantProblem(e.req("POST", "/api/workers/"+unknownID+"/refresh", "user", nil), 404, "not-found")
	})

	t.Run("power", func(t *testing.T) {
		e.t = t
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/start", "user", nil), 409, "already-in-state")
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/stop", "user", nil), 403, "forbidden")
		r := e.req("POST", "/api/workers/"+running+"/stop", "manager", map[string]string{"reason": "lunch"})
		e.want(r, 202)
		var w fleet.Worker
		r.json(t, &w)
		if w.Status != "stopping" || w.DesiredPower != "stopped" || w.Activity.ManualPauseCount != 1 {
			t.Errorf("stop %s", r.body)
		}
		e.eventually("stopped", func() bool { return e.worker(running).Status == "stopped" })
		if w := e.worker(running); w.CostPerHour != 0 {
			t.Errorf("a stopped worker costs %v", w.CostPerHour)
		}
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/stop", "manager", nil), 409, "already-in-state")
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/labs/"+labID+"/start", "user", nil), 409, "illegal-transition")
		e.want(e.req("POST", "/api/workers/"+running+"/start", "user", nil), 202)
		e.eventually("running again", func() bool { return e.worker(running).Status == "running" })
		e.wantProblem(e.req("POST", "/api/workers/"+created.ID+"/start", "user", nil), 409, "illegal-transition")
		e.wantProblem(e.req("POST", "/api/workers/"+unknownID+"/start", "user", nil), 404, "not-found")
		e.wantProblem(e.req("POST", "/api/workers/"+unknownID+"/stop", "admin", nil), 404, "not-found")
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/start", "user", `{"reason": 1}`, "Content-Type", "application/json"), 400, "invalid-request")
	})

	t.Run("summary and settings", func(t *testing.T) {
		e.t = t
		// An automatic pause (the idle policy's path through the same code).
		var eu fleet.Page[fleet.Worker]
		e.req("GET", "/api/workers?region=eu-west-1", "admin", nil).json(t, &eu)
		id := eu.Items[1].ID
		e.eventually("eu worker running", func() bool { return e.worker(id).Status == "running" })
		if _, err := e.rt.Fleet.Stop(ctx, id, fleet.PowerOptions{Reason: "scheduled", Auto: true}); err != nil {
			t.Fatal(err)
		}
		e.eventually("summary", func() bool {
			var s fleet.Summary
			e.req("GET", "/api/fleet/summary", "user", nil).json(t, &s)
			return s.Savings.Today.AutoPauses == 1 && s.Total == 4
		})
		r := e.req("GET", "/api/fleet/summary", "user", nil)
		var s fleet.Summary
		r.json(t, &s)
		if s.ByStatus["provisioning"] != 1 || s.RunningCostPerHour <= 0 || s.Savings.ThisMonth.AutoPauses != 1 {
			t.Errorf("summary %s", r.body)
		}
		e.wantProblem(e.req("GET", "/api/fleet/summary", "guest", nil), 403, "forbidden")

		r = e.req("GET", "/api/settings", "admin", nil)
		e.want(r, 200)
		e.wantProblem(e.req("GET", "/api/settings", "manager", nil), 403, "forbidden")
		r = e.req("PUT", "/api/settings", "admin", `{"prices":{"m5zn.metal":4.5},"provisioning":{"amis":{"us-east-1":{"id":"ami-0c3150000000002a9"}}}}`,
			"Content-Type", "application/merge-patch+json")
		e.want(r, 200)
		var v fleet.Settings
		r.json(t, &v)
		if v.Prices["m5zn.metal"] != 4.5 || v.UpdatedBy != "admin" || v.Prices["c5n.metal"] == 0 {
			t.Errorf("settings %s", r.body)
		}
		// The settings' AMI now fills in a create without one.
		e.want(e.req("POST", "/api/workers", "admin", map[string]any{"name": "defaults", "region": "us-east-1"}), 202)
		r = e.req("PUT", "/api/settings", "admin", `{"intervals":{"metricsSeconds":0}}`, "Content-Type", "application/json")
		e.wantProblem(r, 400, "invalid-request")
		if p := r.problem(t); p.Field != "intervals.metricsSeconds" {
			t.Errorf("field %q", p.Field)
		}
		e.wantProblem(e.req("PUT", "/api/settings", "admin", `[]`, "Content-Type", "application/json"), 400, "invalid-request")
		e.wantProblem(e.req("PUT", "/api/settings", "admin", `{}`, "Content-Type", "text/plain"), 415, "unsupported-media-type")
		e.wantProblem(e.req("PUT", "/api/settings", "manager", `{}`, "Content-Type", "application/json"), 403, "forbidden")
	})

	t.Run("delete", func(t *testing.T) {
		e.t = t
		e.wantProblem(e.req("DELETE", "/api/workers/"+running, "admin", nil), 400, "invalid-request")
		e.wantProblem(e.req("DELETE", "/api/workers/"+running+"?terminate=true", "manager", nil), 403, "forbidden")
		r := e.req("DELETE", "/api/workers/"+running+"?terminate=true&reason=done", "admin", nil)
		e.want(r, 202)
		var w fleet.Worker
		r.json(t, &w)
		if w.Status != "shutting-down" || w.DesiredPower != "terminated" {
			t.Errorf("terminate %s", r.body)
		}
		e.wantProblem(e.req("DELETE", "/api/workers/"+running+"?terminate=true", "admin", nil), 409, "already-in-state")
		e.eventually("terminated", func() bool { return e.worker(running).Status == "terminated" })
		e.wantProblem(e.req("POST", "/api/workers/"+running+"/start", "admin", nil), 409, "illegal-transition")
		// The provisioning worker has no instance: terminated at once.
		r = e.req("DELETE", "/api/workers/"+created.ID+"?terminate=true", "admin", nil)
		e.want(r, 202)
		r.json(t, &w)
		if w.Status != "terminated" {
			t.Errorf("terminate without instance %s", r.body)
		}
		e.want(e.req("DELETE", "/api/workers/"+created.ID+"?terminate=false", "admin", nil), 204)
		// The read model follows the removal (eventually consistent).
		e.eventually("removed from the read model", func() bool { return e.req("GET", "/api/workers/"+created.ID, "admin", nil).status == 404 })
		e.wantProblem(e.req("GET", "/api/workers/"+created.ID, "admin", nil), 404, "not-found")
		e.wantProblem(e.req("DELETE", "/api/workers/"+created.ID+"?terminate=false", "admin", nil), 404, "not-found")
		// Its history stays readable.
		e.want(e.req("GET", "/api/workers/"+created.ID+"/events", "admin", nil), 200)
		if _, err := e.rt.Fleet.LicenseToken(ctx, created.ID); err == nil {
			t.Error("the removed worker's licence token is still stored")
		}
	})

	t.Run("no secret leaks", func(t *testing.T) {
		e.t = t
		e.eventually("projection settles", func() bool {
			_, err := e.rt.ReadModel.GetWorker(ctx, created.ID)
			return err != nil
		})
		db, err := os.ReadFile(filepath.Join(e.dataDir, "cmlcm.db"))
		if err != nil {
			t.Fatal(err)
		}
		secretsFile, _ := os.ReadFile(filepath.Join(e.dataDir, "secrets.json"))
		if !bytes.Contains(secretsFile, []byte(licenseToken)) || !bytes.Contains(secretsFile, []byte(e.creds.Password)) {
			t.Fatal("the secrets file does not hold the secrets: the check below would prove nothing")
		}
		for _, s := range []string{licenseToken, e.creds.Password} {
			if bytes.Contains(db, []byte(s)) {
				t.Errorf("secret %q in the store (events, read models or telemetry)", s)
			}
			if strings.Contains(e.logs.String(), s) {
				t.Errorf("secret %q in the logs", s)
			}
			if bytes.Contains(e.bodies.Bytes(), []byte(s)) {
				t.Errorf("secret %q in an API response", s)
			}
		}
		for _, tok := range []string{"Bearer test-", "test-admin"} {
			if strings.Contains(e.logs.String(), tok) {
				t.Errorf("credential %q in the logs", tok)
			}
		}
		if !strings.Contains(e.logs.String(), `"actor":"admin"`) || !strings.Contains(e.logs.String(), `"workerId":"`+running+`"`) {
			t.Error("access log lines lack the actor or the worker id")
		}
	})
}
