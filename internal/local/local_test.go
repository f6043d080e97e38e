package local_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/api"
	"github.com/cmlcm/cmlcm/internal/local"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	"github.com/cmlcm/cmlcm/internal/sandbox"
)

var admin = api.AuthenticatorFunc(func(r *http.Request) (api.Principal, error) {
	if r.Header.Get("Authorization") != "Bearer t" {
		return api.Principal{}, api.ErrNoCredentials
	}
	return api.Principal{Subject: "a", Username: "admin", Roles: []string{"admin"}}, nil
})

func fastRuntime() local.RuntimeOptions {
	return local.RuntimeOptions{PlainHTTP: true, Durations: sandbox.Durations{Pending: 100 * time.Millisecond,
		StatusChecks: 50 * time.Millisecond, CMLBoot: 200 * time.Millisecond, Stopping: 100 * time.Millisecond,
		ShuttingDown: 50 * time.Millisecond}}
}

func start(t *testing.T, cfg local.Config) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	srv, err := local.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, func(url string) { ready <- url }) }()
	select {
	case url := <-ready:
		return url, cancel, done
	case err := <-done:
		t.Fatal(err)
	}
	return "", cancel, done
}

func call(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer t")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServer runs the local server: health, docs, the dashboard files,
// the demo fleet, and a graceful shutdown that loses no acknowledged
// write (the data directory reopens with it).
func TestServer(t *testing.T) {
	dir := t.TempDir()
	web := filepath.Join(dir, "web")
	os.MkdirAll(web, 0o755)
	os.WriteFile(filepath.Join(web, "index.html"), []byte("<html>dashboard</html>"), 0o644)
	log := slog.New(slog.DiscardHandler)
	data := filepath.Join(dir, "data")
	cfg := local.Config{Addr: "127.0.0.1:0", DataDir: data, WebDir: web, SeedDemo: true, Logger: log,
		Authenticator: admin, Runtime: fastRuntime()}
	url, stop, done := start(t, cfg)

	if code, body := call(t, "GET", url+"/api/health", ""); code != 200 || !strings.Contains(body, `"mode":"local"`) {
		t.Errorf("health %d %s", code, body)
	}
	if code, body := call(t, "GET", url+"/workers/abc", ""); code != 200 || !strings.Contains(body, "dashboard") {
		t.Errorf("dashboard route %d %s", code, body)
	}
	if code, _ := call(t, "GET", url+"/api/docs", ""); code != 200 {
		t.Errorf("docs %d", code)
	}
	// The demo fleet: three workers, imported through the fleet service.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body := call(t, "GET", url+"/api/workers", "")
		var page struct{ Items []map[string]any }
		json.Unmarshal([]byte(body), &page)
		if len(page.Items) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo fleet: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// An acknowledged write, then SIGTERM's path: cancel and wait.
	if code, body := call(t, "PUT", url+"/api/settings", `{"prices":{"m5zn.metal":7.25}}`); code != 200 {
		t.Fatalf("put settings %d %s", code, body)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("shutdown: %v", err)
	}

	rt, err := local.OpenRuntime(local.RuntimeOptions{DataDir: data, Logger: log, PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	v, err := rt.Fleet.Settings(context.Background())
	if err != nil || v.Prices["m5zn.metal"] != 7.25 {
		t.Errorf("after restart: %v %v", v.Prices["m5zn.metal"], err)
	}
	rows, _, err := rt.ReadModel.ListWorkers(context.Background(), readmodel.WorkerFilter{}, "", 10)
	if err != nil || len(rows) != 3 {
		t.Errorf("workers after restart: %d %v", len(rows), err)
	}
	// Seeding again adds nothing.
	if err := local.SeedDemo(context.Background(), rt); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(data, "secrets.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets file %v %v", fi, err)
	}
}

// TestNoIdentityProvider: without internal/auth wired, everything that
// needs an identity is refused (never served anonymously).
func TestNoIdentityProvider(t *testing.T) {
	url, stop, done := start(t, local.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
		Runtime: fastRuntime()})
	defer func() { stop(); <-done }()
	if code, _ := call(t, "GET", url+"/api/workers", ""); code != 401 {
		t.Errorf("status %d", code)
	}
	if code, body := call(t, "GET", url+"/", ""); code != 200 || !strings.Contains(body, "/api/docs") {
		t.Errorf("landing %d %s", code, body)
	}
}
