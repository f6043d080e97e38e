package cml_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/cml"
	"github.com/cmlcm/cmlcm/internal/cmlsim"
	"go.yaml.in/yaml/v3"
)

func TestLabLifecycle(t *testing.T) {
	ctx := context.Background()
	sim, srv := startSim(t, cmlsim.Options{})
	c := newClient(t, srv.URL)

	res, err := c.ImportLab(ctx, sampleLab(t), "fleet smoke")
	if err != nil {
		t.Fatalf("ImportLab: %v", err)
	}
	labs, err := c.Labs(ctx)
	if err != nil {
		t.Fatalf("Labs: %v", err)
	}
	if len(labs) != 1 || labs[0].ID != res.ID || labs[0].Title != "fleet smoke" || labs[0].NodeCount != 2 || labs[0].LinkCount != 1 {
		t.Fatalf("Labs = %+v", labs)
	}
	if labs[0].State != cml.LabDefined {
		t.Errorf("imported lab state %s, want %s", labs[0].State, cml.LabDefined)
	}

	// Preconditions CML enforces, as typed errors.
	if err := c.DeleteLab(ctx, res.ID); err != nil {
		// A freshly imported lab is DEFINED_ON_CORE: deletable. Re-import
		// to keep going.
		t.Fatalf("DeleteLab(defined): %v", err)
	}
	if _, err := c.Lab(ctx, res.ID); !errors.Is(err, cml.ErrNotFound) {
		t.Fatalf("Lab after delete: err = %v, want ErrNotFound", err)
	}
	var ae *cml.APIError
	if _, err := c.Lab(ctx, res.ID); !errors.As(err, &ae) || !strings.Contains(ae.Description, "Lab not found: "+res.ID) {
		t.Errorf("404 description = %v, want CML's 'Lab not found: <id>'", err)
	}
	res, err = c.ImportLab(ctx, sampleLab(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if l, _ := c.Lab(ctx, res.ID); l.Title != "DEVASC_200-901_LAB-2.5.1" {
		t.Errorf("title from YAML = %q", l.Title)
	}

	if err := c.StartLab(ctx, res.ID); err != nil {
		t.Fatalf("StartLab: %v", err)
	}
	if err := c.WaitLabConverged(ctx, res.ID, 10*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if st, err := c.LabState(ctx, res.ID); err != nil || st != cml.LabStarted {
		t.Fatalf("LabState = %q, %v", st, err)
	}
	stats, err := c.SystemStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u := stats.Summary(); u.RunningNodes != 2 || u.TotalNodes != 2 || u.CPUPercent <= 1.5 || u.AllocatedCPUs == 0 {
		t.Errorf("Summary while running = %+v", u)
	}
	if l := sim.Load(); l.RunningNodes != 2 || l.RunningLabs != 1 {
		t.Errorf("sim.Load() = %+v", l)
	}
	if err := c.WipeLab(ctx, res.ID); !errors.Is(err, cml.ErrBadRequest) {
		t.Errorf("WipeLab(started) = %v, want ErrBadRequest", err)
	}
	if err := c.DeleteLab(ctx, res.ID); !errors.Is(err, cml.ErrBadRequest) {
		t.Errorf("DeleteLab(started) = %v, want ErrBadRequest", err)
	}

	// Download → import round trip.
	y, err := c.DownloadLab(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	var topo struct {
		Lab   struct{ Title, Version string }
		Nodes []struct{ Label string }
		Links []struct{ N1, N2, I1, I2 string }
	}
	if err := yaml.Unmarshal(y, &topo); err != nil {
		t.Fatalf("download is not YAML: %v\n%s", err, y)
	}
	if topo.Lab.Version != "0.3.0" || len(topo.Nodes) != 2 || len(topo.Links) != 1 || topo.Links[0].N1 != "n1" {
		t.Errorf("downloaded topology = %+v", topo)
	}
	again, err := c.ImportLab(ctx, y, "copy")
	if err != nil {
		t.Fatalf("re-import of the download: %v", err)
	}

	if err := c.StopLab(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	if st, _ := c.LabState(ctx, res.ID); st != cml.LabStopped {
		t.Errorf("after stop: %s", st)
	}
	if err := c.DeleteLab(ctx, res.ID); !errors.Is(err, cml.ErrBadRequest) {
		t.Errorf("DeleteLab(stopped, not wiped) = %v, want ErrBadRequest", err)
	}
	if err := c.WipeLab(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteLab(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteLab(ctx, again.ID); err != nil {
		t.Fatal(err)
	}
	if ids, err := c.LabIDs(ctx); err != nil || len(ids) != 0 {
		t.Errorf("LabIDs at the end = %v, %v", ids, err)
	}
	if err := c.StartLab(ctx, res.ID); !errors.Is(err, cml.ErrNotFound) {
		t.Errorf("StartLab(deleted) = %v, want ErrNotFound", err)
	}
}

func TestImportInvalidTopology(t *testing.T) {
	_, srv := startSim(t, cmlsim.Options{})
	c := newClient(t, srv.URL)
	_, err := c.ImportLab(context.Background(), []byte("lab: {version: 0.3.0}\nnodes: []\n"), "")
	var ae *cml.APIError
	if !errors.Is(err, cml.ErrBadRequest) || !errors.As(err, &ae) || !strings.Contains(ae.Description, "links") {
		t.Fatalf("ImportLab(no links) = %v, want ErrBadRequest mentioning links", err)
	}
}

func TestSystemCalls(t *testing.T) {
	ctx := context.Background()
	_, srv := startSim(t, cmlsim.Options{})
	c := newClient(t, srv.URL, cml.WithCredentials("nobody", "wrong"))

	// system_information needs no credentials (these are wrong).
	si, err := c.SystemInformation(ctx)
	if err != nil || !si.Ready || si.Version != cmlsim.Version {
		t.Fatalf("SystemInformation = %+v, %v", si, err)
	}
	if maj, mnr, _, ok := si.SemVer(); !ok || maj != 2 || mnr != 9 {
		t.Errorf("SemVer = %d.%d ok=%v", maj, mnr, ok)
	}
	if _, err := c.SystemHealth(ctx); !errors.Is(err, cml.ErrUnauthorized) {
		t.Fatalf("SystemHealth with bad credentials = %v, want ErrUnauthorized", err)
	}

	c = newClient(t, srv.URL)
	h, err := c.SystemHealth(ctx)
	if err != nil || !h.Healthy() || len(h.Computes) != 1 {
		t.Fatalf("SystemHealth = %+v, %v", h, err)
	}
	st, err := c.SystemStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if u := st.Summary(); u.RunningNodes != 0 || u.CPUs != 48 || u.MemoryPercent <= 0 || u.DiskPercent <= 0 {
		t.Errorf("idle Summary = %+v", u)
	}
	nd, err := c.NodeDefinitions(ctx)
	if err != nil || len(nd) == 0 {
		t.Fatalf("NodeDefinitions = %v, %v", nd, err)
	}
	found := false
	for _, d := range nd {
		found = found || (d.ID == "alpine" && d.Nature == "server" && d.Label != "")
	}
	if !found {
		t.Errorf("no alpine node definition in %+v", nd)
	}
	im, err := c.ImageDefinitions(ctx)
	if err != nil || len(im) == 0 || im[0].NodeDefinitionID == "" {
		t.Fatalf("ImageDefinitions = %+v, %v", im, err)
	}
	lic, err := c.Licensing(ctx)
	if err != nil || lic.Registered() || lic.ProductLicense.Active == "" || len(lic.Raw) == 0 {
		t.Fatalf("Licensing = %+v, %v", lic, err)
	}
	if err := c.Logout(ctx); err != nil {
		t.Errorf("Logout: %v", err)
	}
}

func TestWaitReadyBootDelay(t *testing.T) {
	clock := newFakeClock()
	sim, srv := startSim(t, cmlsim.Options{BootDelay: 10 * time.Minute, Clock: clock.Now})
	c := newClient(t, srv.URL)
	ctx := context.Background()

	if si, err := c.SystemInformation(ctx); err != nil || si.Ready {
		t.Fatalf("booting: %+v, %v", si, err)
	}
	// Not ready: lab starts are refused.
	res, err := c.ImportLab(ctx, sampleLab(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartLab(ctx, res.ID); !errors.Is(err, cml.ErrBadRequest) {
		t.Errorf("StartLab while booting = %v, want ErrBadRequest", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if _, err := c.WaitReady(wctx, 10*time.Millisecond); !errors.Is(err, cml.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady while booting = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		clock.Advance(10 * time.Minute)
	}()
	if si, err := c.WaitReady(ctx, 10*time.Millisecond); err != nil || !si.Ready {
		t.Fatalf("WaitReady after boot = %+v, %v", si, err)
	}

	// The NotReady fault takes a booted controller down again.
	sim.SetFaults(cmlsim.Faults{NotReady: true})
	if si, _ := c.SystemInformation(ctx); si.Ready {
		t.Error("NotReady fault: still ready")
	}
	sim.SetFaults(cmlsim.Faults{Unavailable: true})
	if _, err := c.SystemInformation(ctx); !errors.Is(err, cml.ErrUnavailable) {
		t.Errorf("Unavailable fault: %v", err)
	}
}

func TestReloginOn401(t *testing.T) {
	ctx := context.Background()
	sim, srv := startSim(t, cmlsim.Options{})
	c := newClient(t, srv.URL)
	if _, err := c.LabIDs(ctx); err != nil {
		t.Fatal(err)
	}
	sim.ExpireTokens() // the controller forgets every session
	if _, err := c.LabIDs(ctx); err != nil {
		t.Fatalf("after token expiry: %v", err)
	}
	if got := countLogins(t, c); got != 2 {
		t.Errorf("logins = %d, want 2 (initial + one re-login)", got)
	}

	// Tokens that are dead on arrival: re-login happens once, then the
	// 401 is final.
	sim.ExpireTokens()
	sim.SetFaults(cmlsim.Faults{TokenTTL: time.Nanosecond})
	_, err := c.LabIDs(ctx)
	var ae *cml.APIError
	if !errors.Is(err, cml.ErrUnauthorized) || !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Fatalf("with instantly expiring tokens: %v, want a 401 ErrUnauthorized", err)
	}
	sim.SetFaults(cmlsim.Faults{})
	// 2 before, exactly 1 re-login for the failed call (not a loop), and
	// 1 for countLogins itself since the cached token was dead on arrival.
	if got := countLogins(t, c); got != 4 {
		t.Errorf("logins = %d, want 4", got)
	}
}

// countLogins counts admin logins in the controller's telemetry.
func countLogins(t *testing.T, c *cml.Client) int {
	t.Helper()
	ev, err := c.TelemetryEvents(context.Background(), &cml.ActivityFilter{
		Categories: []string{"user_activity"}, ExcludeUsers: matchNothing,
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ev {
		if e.Data["activity"] == "login" {
			n++
		}
	}
	return n
}

func TestConcurrentCallsLogInOnce(t *testing.T) {
	_, srv := startSim(t, cmlsim.Options{})
	c := newClient(t, srv.URL)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			if _, err := c.LabIDs(context.Background()); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := countLogins(t, c); got != 1 {
		t.Errorf("16 concurrent first calls logged in %d times, want 1", got)
	}
}

func TestSharedTokenStore(t *testing.T) {
	_, srv := startSim(t, cmlsim.Options{})
	store := cml.NewMemoryTokenStore()
	a := newClient(t, srv.URL, cml.WithTokenStore(store))
	b := newClient(t, srv.URL, cml.WithTokenStore(store))
	for _, c := range []*cml.Client{a, b, a} {
		if _, err := c.LabIDs(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := countLogins(t, b); got != 1 {
		t.Errorf("two clients sharing a store logged in %d times, want 1", got)
	}
}

func TestRetries(t *testing.T) {
	ctx := context.Background()
	sim, srv := startSim(t, cmlsim.Options{})
	c := newClient(t, srv.URL, cml.WithRetries(3))
	if _, err := c.LabIDs(ctx); err != nil { // log in first
		t.Fatal(err)
	}

	sim.SetFaults(cmlsim.Faults{FailNext: 2, ErrorStatus: http.StatusServiceUnavailable})
	if _, err := c.LabIDs(ctx); err != nil {
		t.Fatalf("GET after two 503s: %v, want success on the third attempt", err)
	}

	sim.SetFaults(cmlsim.Faults{FailNext: 10, ErrorStatus: http.StatusBadGateway})
	_, err := c.LabIDs(ctx)
	var ae *cml.APIError
	if !errors.Is(err, cml.ErrUnavailable) || !errors.As(err, &ae) || ae.Status != http.StatusBadGateway {
		t.Fatalf("GET with persistent 502 = %v, want ErrUnavailable (502)", err)
	}

	// PUT state changes are retried too.
	sim.SetFaults(cmlsim.Faults{})
	res, err := c.ImportLab(ctx, sampleLab(t), "")
	if err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(cmlsim.Faults{FailNext: 1, FailPaths: []string{"/labs/"}})
	if err := c.StartLab(ctx, res.ID); err != nil {
		t.Fatalf("PUT start after one 503: %v", err)
	}

	// POST import is not idempotent: one 503 is final.
	sim.SetFaults(cmlsim.Faults{FailNext: 1, FailPaths: []string{"/import"}})
	if _, err := c.ImportLab(ctx, sampleLab(t), ""); !errors.Is(err, cml.ErrUnavailable) {
		t.Fatalf("POST import after a 503 = %v, want ErrUnavailable without retry", err)
	}
	sim.SetFaults(cmlsim.Faults{})
	if ids, _ := c.LabIDs(ctx); len(ids) != 1 {
		t.Errorf("labs = %v, want only the first import", ids)
	}
}

func TestTimeouts(t *testing.T) {
	ctx := context.Background()
	sim, srv := startSim(t, cmlsim.Options{})
	c := newClient(t, srv.URL, cml.WithTimeout(50*time.Millisecond), cml.WithRetries(1))
	sim.SetFaults(cmlsim.Faults{Latency: 300 * time.Millisecond})
	start := time.Now()
	_, err := c.SystemInformation(ctx)
	if !errors.Is(err, cml.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow controller: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	var te *cml.TransportError
	if !errors.As(err, &te) {
		t.Errorf("error %T is not a *TransportError", err)
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Errorf("two 50 ms attempts took %s", d)
	}

	// The caller's context bounds the retries as well.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := c.SystemInformation(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := cml.New("https://"+addr, cml.WithRetries(2), cml.WithBackoff(time.Millisecond, 5*time.Millisecond))
	_, err = c.SystemInformation(context.Background())
	if !errors.Is(err, cml.ErrUnavailable) {
		t.Fatalf("closed port: %v, want ErrUnavailable", err)
	}
	if _, err := c.LabIDs(context.Background()); !errors.Is(err, cml.ErrUnavailable) {
		t.Fatalf("closed port (login): %v, want ErrUnavailable", err)
	}
}

func TestRegistration(t *testing.T) {
	ctx := context.Background()
	sim, srv := startSim(t, cmlsim.Options{RegistrationDelay: 100 * time.Millisecond})
	c := newClient(t, srv.URL)

	// Failure reported by the controller.
	sim.SetFaults(cmlsim.Faults{RegistrationFails: true})
	if _, err := c.Register(ctx, "dGVzdC10b2tlbg==", false, 20*time.Millisecond, 5*time.Second); !errors.Is(err, cml.ErrRegistrationFailed) {
		t.Fatalf("failing registration = %v, want ErrRegistrationFailed", err)
	}

	// Slow registration: our timeout fires first.
	sim.SetFaults(cmlsim.Faults{RegistrationDelay: time.Hour})
	st, err := c.Register(ctx, "dGVzdC10b2tlbg==", false, 20*time.Millisecond, 150*time.Millisecond)
	if !errors.Is(err, cml.ErrRegistrationTimeout) || st.Registration.Status != "IN_PROGRESS" {
		t.Fatalf("slow registration = %q, %v, want ErrRegistrationTimeout while IN_PROGRESS", st.Registration.Status, err)
	}
	// A second request while one is in progress is a conflict.
	if err := c.RequestRegistration(ctx, "dGVzdC10b2tlbg==", false); !errors.Is(err, cml.ErrConflict) {
		t.Fatalf("registration while in progress = %v, want ErrConflict", err)
	}
}

func TestRegisterAndDeregister(t *testing.T) {
	ctx := context.Background()
	sim, srv := startSim(t, cmlsim.Options{RegistrationDelay: 60 * time.Millisecond})
	c := newClient(t, srv.URL)

	if _, err := c.Deregister(ctx); !errors.Is(err, cml.ErrBadRequest) {
		t.Fatalf("deregistering an unregistered controller = %v, want ErrBadRequest", err)
	}
	st, err := c.Register(ctx, "dGVzdC10b2tlbg==", false, 20*time.Millisecond, 5*time.Second)
	if err != nil || !st.Registered() || st.Authorization.Status != cml.AuthorizationInCompliance {
		t.Fatalf("Register = %+v, %v", st.Registration, err)
	}

	// Nodes running: CML refuses to deregister.
	res, err := c.ImportLab(ctx, sampleLab(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartLab(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	var ae *cml.APIError
	if _, err := c.Deregister(ctx); !errors.As(err, &ae) || !strings.Contains(ae.Description, "nodes are running") {
		t.Fatalf("deregistering with running nodes = %v", err)
	}
	if err := c.StopLab(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Deregister(ctx); err != nil || r != cml.Deregistered {
		t.Fatalf("Deregister = %v, %v, want Deregistered (204)", r, err)
	}

	// Cisco unreachable: 202, still a success.
	if _, err := c.Register(ctx, "dGVzdC10b2tlbg==", false, 20*time.Millisecond, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	sim.SetFaults(cmlsim.Faults{DeregistrationTimeout: true})
	if r, err := c.Deregister(ctx); err != nil || r != cml.DeregisteredLocally {
		t.Fatalf("Deregister with SSMS timeout = %v, %v, want DeregisteredLocally (202)", r, err)
	}
	if st, _ := c.Licensing(ctx); st.Registered() {
		t.Error("still registered after a 202 deregistration")
	}
}

func TestTelemetryActivity(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	sim, srv := startSim(t, cmlsim.Options{Clock: clock.Now})
	admin := newClient(t, srv.URL)
	sim.AddUser("alice", "alice-pw", false)
	alice := newClient(t, srv.URL, cml.WithCredentials("alice", "alice-pw"))

	if _, err := admin.LabIDs(ctx); err != nil { // admin login: automation, not activity
		t.Fatal(err)
	}
	since := clock.Now()
	clock.Advance(time.Minute)
	res, err := alice.ImportLab(ctx, sampleLab(t), "") // alice logs in, imports
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.StartLab(ctx, res.ID); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if err := admin.StopLab(ctx, res.ID); err != nil {
		t.Fatal(err)
	}

	ev, err := admin.TelemetryEvents(ctx, &cml.ActivityFilter{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	var cats []string
	for _, e := range ev {
		cats = append(cats, e.Category)
		if e.Time.IsZero() || e.Time.Before(since) {
			t.Errorf("event %+v outside the window", e)
		}
	}
	want := "user_activity import_lab start_lab queue_node queue_node start_node start_node boot_node boot_node stop_lab stop_node stop_node"
	if got := strings.Join(cats, " "); got != want {
		t.Errorf("activity categories\n got %s\nwant %s", got, want)
	}
	if len(ev) > 0 && ev[0].UserID() == cmlsim.AdminUserID {
		t.Error("admin user activity was not excluded")
	}

	// Unfiltered: the admin login and wipe/export categories are there.
	all, err := admin.TelemetryEvents(ctx, nil)
	if err != nil || len(all) <= len(ev) {
		t.Fatalf("all events: %d (%v), filtered %d", len(all), err, len(ev))
	}
}

func TestActivityFilter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ev := func(cat, user string, at time.Time) cml.TelemetryEvent {
		d := map[string]any{}
		if user != "" {
			d["user_id"] = user
		}
		return cml.TelemetryEvent{Category: cat, Time: at, Data: d}
	}
	tests := []struct {
		name string
		f    cml.ActivityFilter
		e    cml.TelemetryEvent
		want bool
	}{
		{"lab start counts", cml.ActivityFilter{}, ev("start_lab", "", t0), true},
		{"system stats do not", cml.ActivityFilter{}, ev("system_stats", "", t0), false},
		{"human user activity", cml.ActivityFilter{}, ev("user_activity", "7b0c3f1e-2d4a-4c55-9e8f-0a1b2c3d4e5f", t0), true},
		{"admin user activity excluded", cml.ActivityFilter{}, ev("user_activity", cmlsim.AdminUserID, t0), false},
		{"system user pattern on node events ignored", cml.ActivityFilter{}, ev("boot_node", cmlsim.AdminUserID, t0), true},
		{"at since is not after", cml.ActivityFilter{Since: t0}, ev("start_lab", "", t0), false},
		{"after since", cml.ActivityFilter{Since: t0}, ev("start_lab", "", t0.Add(time.Second)), true},
		{"custom categories", cml.ActivityFilter{Categories: []string{"system_stats"}}, ev("system_stats", "", t0), true},
		{"every category", cml.ActivityFilter{Categories: []string{}}, ev("cpuinfo", "", t0), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.f.Match(tt.e); got != tt.want {
				t.Errorf("Match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	want := time.Date(2026, 3, 1, 9, 30, 15, 0, time.UTC)
	for _, s := range []string{
		"2026-03-01T09:30:15+00:00", "2026-03-01T09:30:15Z", "2026-03-01T09:30:15",
		"2026-03-01T10:30:15+01:00", "2026-03-01 09:30:15",
	} {
		got, err := cml.ParseTimestamp(s)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseTimestamp(%q) = %v, %v", s, got, err)
		}
	}
	if got, err := cml.ParseTimestamp("2026-03-01T09:30:15.250000"); err != nil || got.Nanosecond() != 250e6 {
		t.Errorf("fractional: %v, %v", got, err)
	}
	if _, err := cml.ParseTimestamp("yesterday"); err == nil {
		t.Error("garbage parsed")
	}
}

func TestTLSOptions(t *testing.T) {
	ctx := context.Background()
	// cmlsim.Serve is what a sandbox worker runs: HTTPS, generated
	// self-signed certificate.
	sim := cmlsim.New(cmlsim.Options{})
	url, shutdown, err := cmlsim.Serve(ctx, "127.0.0.1:0", sim, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	leaf := peerCert(t, strings.TrimPrefix(url, "https://"))
	pool := x509.NewCertPool()
	pool.AddCert(leaf)

	tests := []struct {
		name    string
		opts    []cml.Option
		wantErr bool
	}{
		{"verification off by default", nil, false},
		{"pinned fingerprint", []cml.Option{cml.WithPinnedCertificate(cml.CertificateFingerprint(leaf))}, false},
		{"pinned fingerprint with colons, upper case", []cml.Option{cml.WithPinnedCertificate(colons(cml.CertificateFingerprint(leaf)))}, false},
		{"wrong pin", []cml.Option{cml.WithPinnedCertificate(strings.Repeat("ab", 32))}, true},
		{"malformed pin", []cml.Option{cml.WithPinnedCertificate("xyz")}, true},
		{"verification against system roots", []cml.Option{cml.WithTLSVerify(true)}, true},
		{"verification against the worker's certificate", []cml.Option{cml.WithRootCAs(pool)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(t, url, append([]cml.Option{cml.WithRetries(0)}, tt.opts...)...)
			_, err := c.LabIDs(ctx)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, cml.ErrUnavailable) {
				t.Errorf("TLS failure %v is not ErrUnavailable", err)
			}
		})
	}

	// Plain HTTP works too (CML's on-host listener, the tests' fast path).
	hurl, hshutdown, err := cmlsim.Serve(ctx, "127.0.0.1:0", sim, false)
	if err != nil {
		t.Fatal(err)
	}
	defer hshutdown(context.Background())
	if !strings.HasPrefix(hurl, "http://127.0.0.1:") {
		t.Fatalf("plain URL %s", hurl)
	}
	if _, err := newClient(t, hurl).LabIDs(ctx); err != nil {
		t.Fatal(err)
	}
}

func peerCert(t *testing.T, addr string) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0]
}

func colons(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(strings.ToUpper(h[i : i+2]))
	}
	return b.String()
}

func TestBaseURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"10.0.1.17", "https://10.0.1.17/api/v0/"},
		{"https://cml.example", "https://cml.example/api/v0/"},
		{"https://cml.example/", "https://cml.example/api/v0/"},
		{"https://cml.example/api/v0", "https://cml.example/api/v0/"},
		{"https://cml.example/api/v0/", "https://cml.example/api/v0/"},
		{"http://127.0.0.1:8001", "http://127.0.0.1:8001/api/v0/"},
		{"https://proxy.example/cml/", "https://proxy.example/cml/api/v0/"},
	}
	for _, tt := range tests {
		if got := cml.New(tt.in).BaseURL(); got != tt.want {
			t.Errorf("New(%q).BaseURL() = %q, want %q", tt.in, got, tt.want)
		}
	}
	if _, err := cml.New("ftp://x").SystemInformation(context.Background()); err == nil || !strings.Contains(err.Error(), "scheme") {
		t.Errorf("ftp URL: %v", err)
	}
}

func TestAPIErrorKinds(t *testing.T) {
	tests := []struct {
		status int
		want   error
	}{
		{400, cml.ErrBadRequest}, {401, cml.ErrUnauthorized}, {403, cml.ErrUnauthorized},
		{404, cml.ErrNotFound}, {409, cml.ErrConflict}, {422, cml.ErrBadRequest},
		{500, cml.ErrUnavailable}, {502, cml.ErrUnavailable}, {503, cml.ErrUnavailable},
	}
	for _, tt := range tests {
		e := &cml.APIError{Method: "GET", Path: "labs", Status: tt.status, Description: "x"}
		if !errors.Is(e, tt.want) {
			t.Errorf("status %d is not %v", tt.status, tt.want)
		}
	}
}
