package sandbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cmlcm/cmlcm/internal/cloud"
)

const region = "us-east-1"

// recorder collects emitted events and lets tests wait for states.
type recorder struct {
	mu     sync.Mutex
	events []events.CloudWatchEvent
	signal chan struct{}
}

func record(s *Sandbox) *recorder {
	r := &recorder{signal: make(chan struct{}, 1)}
	s.Subscribe(func(ev events.CloudWatchEvent) {
		r.mu.Lock()
		r.events = append(r.events, ev)
		r.mu.Unlock()
		select {
		case r.signal <- struct{}{}:
		default:
		}
	})
	return r
}

// states returns the sequence of states emitted for an instance.
func (r *recorder) states(t *testing.T, id string) []cloud.State {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []cloud.State
	for _, ev := range r.events {
		c, err := cloud.ParseStateChange(ev)
		if err != nil {
			t.Fatal(err)
		}
		if c.InstanceID == id {
			out = append(out, c.State)
		}
	}
	return out
}

// wait blocks until the instance's emitted states end with want.
func (r *recorder) wait(t *testing.T, id string, want cloud.State) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if st := r.states(t, id); len(st) > 0 && st[len(st)-1] == want {
			return
		}
		select {
		case <-r.signal:
		case <-deadline:
			t.Fatalf("%s never reached %s; events %v", id, want, r.states(t, id))
		}
	}
}

// eventually polls cond until it holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// fast are test durations, scaled down 3000×: pending 40ms, status checks
// 100ms, CML boot 260ms, stopping 40ms, shutting down 20ms.
func newSandbox(t *testing.T, dir string) *Sandbox {
	t.Helper()
	s, err := New(Options{Dir: dir, Scale: 3000, Account: "123456789012", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func spec(worker string) cloud.LaunchSpec {
	return cloud.LaunchSpec{
		WorkerID: worker, Region: region, Name: "worker " + worker, AMINamePattern: "cml-2.9*",
		InstanceType: "m5zn.metal", SubnetIDs: []string{"subnet-a", "subnet-b"}, Environment: "local",
	}
}

func describe(t *testing.T, s *Sandbox, id string) cloud.Instance {
	t.Helper()
	got, err := s.Describe(context.Background(), region, []string{id})
	if err != nil || len(got) != 1 {
		t.Fatalf("describe %s: %v %v", id, got, err)
	}
	return got[0]
}

// cml is a minimal client of the simulated controller.
type cml struct {
	t     *testing.T
	base  string
	token string
}

var insecure = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
	TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the simulator's self-signed certificate
}}

func (c *cml) do(method, path string, body any, out any) int {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.base+"/api/v0"+path, rd)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := insecure.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			c.t.Fatalf("%s %s: decode: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

func (c *cml) login() {
	c.t.Helper()
	if code := c.do("POST", "/authenticate", map[string]string{"username": "admin", "password": "admin"}, &c.token); code != 200 {
		c.t.Fatalf("login: %d", code)
	}
}

func (c *cml) ready() bool {
	var info struct{ Ready bool }
	return c.do("GET", "/system_information", nil, &info) == 200 && info.Ready
}

func (c *cml) labs() []string {
	c.t.Helper()
	var ids []string
	if code := c.do("GET", "/labs", nil, &ids); code != 200 {
		c.t.Fatalf("labs: %d", code)
	}
	return ids
}

func TestLifecycleEvents(t *testing.T) {
	s := newSandbox(t, "")
	rec := record(s)
	ctx := context.Background()
	start := time.Now()

	inst, err := s.Launch(ctx, spec("w1"))
	if err != nil {
		t.Fatal(err)
	}
	if inst.State != cloud.StatePending || inst.AMIID != DefaultImages[0].ID || inst.SubnetID != "subnet-a" || inst.WorkerID() != "w1" || !inst.Managed() {
		t.Fatalf("launched %+v", inst)
	}
	rec.wait(t, inst.ID, cloud.StateRunning)
	if took := time.Since(start); took < 40*time.Millisecond {
		t.Fatalf("running after %s, before the scaled 40ms pending time", took)
	}
	got := describe(t, s, inst.ID)
	if got.PublicIP != "127.0.0.1" || got.PrivateIP != "127.0.0.1" || !strings.HasPrefix(got.CMLURL(), "https://127.0.0.1:") {
		t.Fatalf("running instance %+v", got)
	}
	eventually(t, "status checks ok", func() bool { return describe(t, s, inst.ID).StatusOK() })

	api := &cml{t: t, base: got.CMLURL()}
	eventually(t, "CML ready", api.ready)
	api.login()
	var lab struct{ ID string }
	if code := api.do("POST", "/labs", map[string]string{"title": "survivor"}, &lab); code != 200 {
		t.Fatalf("create lab: %d", code)
	}

	runningURL := got.CMLURL()
	if err := s.Stop(ctx, region, inst.ID); err != nil {
		t.Fatal(err)
	}
	if got := describe(t, s, inst.ID); got.State != cloud.StateStopping || got.CMLURL() != "" || got.StateTransitionTime.IsZero() {
		t.Fatalf("stopping instance %+v", got)
	}
	rec.wait(t, inst.ID, cloud.StateStopped)
	if resp, err := insecure.Get(runningURL + "/api/v0/system_information"); err == nil {
		resp.Body.Close()
		t.Fatal("the simulator still answers after stop")
	}

	if err := s.Start(ctx, region, inst.ID); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, inst.ID, cloud.StateRunning)
	api = &cml{t: t, base: describe(t, s, inst.ID).CMLURL()}
	eventually(t, "CML ready after start", api.ready)
	api.login()
	if labs := api.labs(); !slices.Contains(labs, lab.ID) {
		t.Fatalf("lab %s did not survive stop/start: %v", lab.ID, labs)
	}

	if err := s.Terminate(ctx, region, inst.ID); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, inst.ID, cloud.StateTerminated)
	if got := describe(t, s, inst.ID); got.State != cloud.StateTerminated || got.CMLURL() != "" || got.PrivateIP != "" {
		t.Fatalf("terminated instance %+v", got)
	}

	want := []cloud.State{"pending", "running", "stopping", "stopped", "pending", "running", "shutting-down", "terminated"}
	if got := rec.states(t, inst.ID); !slices.Equal(got, want) {
		t.Fatalf("event sequence\n got %v\nwant %v", got, want)
	}
	// Every event has EventBridge's exact shape, in time order.
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var last time.Time
	for i, ev := range rec.events {
		b, _ := json.Marshal(ev)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range m {
				if !yield(k) {
					return
				}
			}
		})
		if !slices.Equal(keys, []string{"account", "detail", "detail-type", "id", "region", "resources", "source", "time", "version"}) {
			t.Fatalf("event keys %v", keys)
		}
		wantRes := fmt.Sprintf("arn:aws:ec2:%s:123456789012:instance/%s", region, inst.ID)
		detail := fmt.Sprintf(`{"instance-id":%q,"state":%q}`, inst.ID, want[i])
		if ev.Version != "0" || ev.Source != "aws.ec2" || ev.DetailType != "EC2 Instance State-change Notification" ||
			ev.AccountID != "123456789012" || ev.Region != region || !slices.Equal(ev.Resources, []string{wantRes}) ||
			string(ev.Detail) != detail || ev.ID == "" || ev.Time.Before(last) || ev.Time.Nanosecond() != 0 {
			t.Fatalf("event %d: %s", i, b)
		}
		last = ev.Time
	}
}

func TestLaunchIsIdempotentPerWorker(t *testing.T) {
	s := newSandbox(t, "")
	rec := record(s)
	ctx := context.Background()
	a, err := s.Launch(ctx, spec("w-idem"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Launch(ctx, spec("w-idem"))
	if err != nil || b.ID != a.ID {
		t.Fatalf("second launch: %v %s != %s", err, b.ID, a.ID)
	}
	rec.wait(t, a.ID, cloud.StateRunning)
	if got := rec.states(t, a.ID); !slices.Equal(got, []cloud.State{"pending", "running"}) {
		t.Fatalf("events %v", got)
	}
	all, _ := s.Discover(ctx, region, cloud.DiscoverFilter{Tags: map[string]string{cloud.TagWorkerID: "w-idem"}})
	if len(all) != 1 {
		t.Fatalf("%d instances for one worker", len(all))
	}
}

func TestInvalidTransitions(t *testing.T) {
	s := newSandbox(t, "")
	rec := record(s)
	ctx := context.Background()
	inst, err := s.Launch(ctx, spec("w-states"))
	if err != nil {
		t.Fatal(err)
	}
	// A pending instance cannot be stopped (EC2: IncorrectInstanceState).
	if err := s.Stop(ctx, region, inst.ID); !errors.Is(err, cloud.ErrInvalidState) {
		t.Fatalf("stop pending: %v", err)
	}
	rec.wait(t, inst.ID, cloud.StateRunning)
	if err := s.Start(ctx, region, inst.ID); err != nil {
		t.Fatalf("start running (no-op): %v", err)
	}
	if err := s.Terminate(ctx, region, inst.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.Terminate(ctx, region, inst.ID); err != nil {
		t.Fatalf("second terminate: %v", err)
	}
	rec.wait(t, inst.ID, cloud.StateTerminated)
	if err := s.Start(ctx, region, inst.ID); !errors.Is(err, cloud.ErrInvalidState) {
		t.Fatalf("start terminated: %v", err)
	}
	const ghost = "i-0123456789abcdef0"
	if err := s.Start(ctx, region, ghost); !errors.Is(err, cloud.ErrNotFound) {
		t.Fatalf("start unknown: %v", err)
	}
	if err := s.Terminate(ctx, region, ghost); err != nil {
		t.Fatalf("terminate unknown: %v", err)
	}
	if err := s.Start(ctx, "eu-west-1", inst.ID); !errors.Is(err, cloud.ErrNotFound) {
		t.Fatalf("instance found in the wrong region: %v", err)
	}
	if err := s.Tag(ctx, region, inst.ID, nil, []string{cloud.TagManaged}); !errors.Is(err, cloud.ErrInvalidConfig) {
		t.Fatalf("remove managed tag: %v", err)
	}
	// Launching again for the worker returns the terminated instance, as
	// EC2 does for a reused client token.
	again, err := s.Launch(ctx, spec("w-states"))
	if err != nil || again.ID != inst.ID || again.State != cloud.StateTerminated {
		t.Fatalf("relaunch: %v %+v", err, again)
	}
}

func TestLaunchValidation(t *testing.T) {
	s := newSandbox(t, "")
	tests := []struct {
		name   string
		mutate func(*cloud.LaunchSpec)
	}{
		{"unknown AMI id", func(l *cloud.LaunchSpec) { l.AMINamePattern, l.AMIID = "", "ami-0000000000000000" }},
		{"no AMI matches", func(l *cloud.LaunchSpec) { l.AMINamePattern = "ubuntu-*" }},
		{"no type", func(l *cloud.LaunchSpec) { l.InstanceType = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := spec("w-" + tt.name)
			tt.mutate(&l)
			if _, err := s.Launch(context.Background(), l); !errors.Is(err, cloud.ErrInvalidConfig) {
				t.Fatalf("err = %v", err)
			}
		})
	}
	// The newest matching image wins.
	inst, err := s.Launch(context.Background(), cloud.LaunchSpec{WorkerID: "w-img", Region: region, AMINamePattern: "cml-*-controller", InstanceType: "c5.xlarge"})
	if err != nil || inst.AMIID != DefaultImages[0].ID {
		t.Fatalf("pattern launch: %v %s", err, inst.AMIID)
	}
}

func TestFaults(t *testing.T) {
	s := newSandbox(t, "")
	ctx := context.Background()
	s.InjectFault(Fault{Op: "Launch", Subnet: "subnet-a", Err: cloud.ErrCapacity})
	inst, err := s.Launch(ctx, spec("w-cap"))
	if err != nil || inst.SubnetID != "subnet-b" {
		t.Fatalf("fallback launch: %v %+v", err, inst)
	}
	s.InjectFault(Fault{Op: "Launch", Subnet: "subnet-b", Err: cloud.ErrCapacity})
	_, err = s.Launch(ctx, spec("w-cap2"))
	var ce *cloud.Error
	if !errors.Is(err, cloud.ErrCapacity) || !errors.As(err, &ce) || ce.Code != "InsufficientInstanceCapacity" {
		t.Fatalf("all subnets full: %v", err)
	}
	s.ClearFaults()
	s.InjectFault(Fault{Op: "Describe", Err: cloud.ErrThrottled, Times: 1})
	if _, err := s.Describe(ctx, region, []string{inst.ID}); !errors.Is(err, cloud.ErrThrottled) {
		t.Fatalf("injected throttle: %v", err)
	}
	if _, err := s.Describe(ctx, region, []string{inst.ID}); err != nil {
		t.Fatalf("fault outlived its Times: %v", err)
	}
	s.InjectFault(Fault{Op: "Launch", Subnet: "subnet-a", Err: cloud.ErrInvalidConfig})
	if _, err := s.Launch(ctx, spec("w-bad")); !errors.Is(err, cloud.ErrInvalidConfig) {
		t.Fatalf("non-capacity fault must not fall back: %v", err)
	}
}

func TestDiscover(t *testing.T) {
	s, err := New(Options{Scale: 3000, Logger: slog.New(slog.DiscardHandler), Images: append(slices.Clone(DefaultImages),
		Image{ID: "ami-0ubuntu000000001", Name: "ubuntu-24.04", Created: time.Now()})})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := record(s)
	ctx := context.Background()
	launch := func(worker, pattern string, tags map[string]string) string {
		l := spec(worker)
		l.AMINamePattern, l.Tags = pattern, tags
		inst, err := s.Launch(ctx, l)
		if err != nil {
			t.Fatal(err)
		}
		return inst.ID
	}
	a := launch("d1", "cml-2.9*", map[string]string{"team": "net"})
	b := launch("d2", "cml-2.8*", nil)
	c := launch("d3", "ubuntu-*", map[string]string{"team": "sec"})
	other, err := s.Launch(ctx, cloud.LaunchSpec{WorkerID: "d4", Region: "eu-west-1", AMIID: DefaultImages[0].ID, InstanceType: "m5zn.metal"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Terminate(ctx, region, b); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, b, cloud.StateTerminated)

	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	tests := []struct {
		name string
		f    cloud.DiscoverFilter
		want []string
	}{
		{"managed live", cloud.DiscoverFilter{Tags: map[string]string{cloud.TagManaged: "true"}}, sorted(a, c)},
		{"tag value", cloud.DiscoverFilter{Tags: map[string]string{"team": "net"}}, sorted(a)},
		{"tag key", cloud.DiscoverFilter{Tags: map[string]string{"team": ""}}, sorted(a, c)},
		{"AMI pattern", cloud.DiscoverFilter{AMINamePattern: "cml-*"}, sorted(a)},
		{"terminated", cloud.DiscoverFilter{States: []cloud.State{cloud.StateTerminated}}, sorted(b)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Discover(ctx, region, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, in := range got {
				ids = append(ids, in.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Fatalf("got %v, want %v", ids, tt.want)
			}
		})
	}
	if got, _ := s.Discover(ctx, "eu-west-1", cloud.DiscoverFilter{}); len(got) != 1 || got[0].ID != other.ID {
		t.Fatalf("other region: %v", got)
	}
}

func TestMetricsFollowSimulatedLoad(t *testing.T) {
	s := newSandbox(t, "")
	rec := record(s)
	ctx := context.Background()
	running, err := s.Launch(ctx, spec("w-m1"))
	if err != nil {
		t.Fatal(err)
	}
	stopped, err := s.Launch(ctx, spec("w-m2"))
	if err != nil {
		t.Fatal(err)
	}
	rec.wait(t, running.ID, cloud.StateRunning)
	rec.wait(t, stopped.ID, cloud.StateRunning)
	if err := s.Stop(ctx, region, stopped.ID); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	got, err := s.Metrics(ctx, region, []string{running.ID, stopped.ID, "i-unknown"}, now.Add(-5*time.Minute), now.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("samples %v: only the running instance has metrics", got)
	}
	m := got[running.ID]
	load := s.Simulator(running.ID).Load()
	if want := load.CPUPercent + Noise(running.ID, m.CPUAt); m.CPUPercent != want || !m.HasMemory() || m.MemoryPercent != load.MemoryPercent {
		t.Fatalf("sample %+v, load %+v, want cpu %v", m, load, want)
	}
	if n := Noise(running.ID, m.CPUAt); n < 0 || n >= 2 || n != Noise(running.ID, m.CPUAt.Add(30*time.Second).Truncate(time.Minute)) {
		t.Fatalf("noise %v is not a stable value in [0,2)", n)
	}
	past, err := s.Metrics(ctx, region, []string{running.ID}, now.Add(-2*time.Hour), now.Add(-time.Hour))
	if err != nil || len(past) != 0 {
		t.Fatalf("a past window has no data: %v %v", past, err)
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s1, err := New(Options{Dir: dir, Scale: 3000, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	rec1 := record(s1)
	kept, err := s1.Launch(ctx, spec("w-keep"))
	if err != nil {
		t.Fatal(err)
	}
	rec1.wait(t, kept.ID, cloud.StateRunning)
	api := &cml{t: t, base: describe(t, s1, kept.ID).CMLURL()}
	eventually(t, "CML ready", api.ready)
	api.login()
	var lab struct{ ID string }
	api.do("POST", "/labs", map[string]string{"title": "persisted"}, &lab)
	if err := s1.Tag(ctx, region, kept.ID, map[string]string{"owner": "ana"}, nil); err != nil {
		t.Fatal(err)
	}
	// An instance stopping when the server goes down finishes its stop
	// after the restart, with the event time it was due at.
	stopping, err := s1.Launch(ctx, spec("w-stopping"))
	if err != nil {
		t.Fatal(err)
	}
	rec1.wait(t, stopping.ID, cloud.StateRunning)
	if err := s1.Stop(ctx, region, stopping.ID); err != nil {
		t.Fatal(err)
	}
	stopDue := time.Now().Add(40 * time.Millisecond)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the stop comes due while the server is down

	s2, err := New(Options{Dir: dir, Scale: 3000, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	rec2 := record(s2)
	rec2.wait(t, stopping.ID, cloud.StateStopped)
	rec2.mu.Lock()
	ev := rec2.events[0]
	rec2.mu.Unlock()
	if ev.Time.After(stopDue.Add(time.Second)) {
		t.Fatalf("caught-up stop stamped %v, due %v", ev.Time, stopDue)
	}

	got := describe(t, s2, kept.ID)
	if got.State != cloud.StateRunning || got.Tags["owner"] != "ana" || got.CMLURL() == "" {
		t.Fatalf("restored instance %+v", got)
	}
	api = &cml{t: t, base: got.CMLURL()}
	eventually(t, "CML ready after restart", api.ready)
	api.login()
	if labs := api.labs(); !slices.Contains(labs, lab.ID) {
		t.Fatalf("lab lost across restart: %v", labs)
	}
}

func TestScaledDurations(t *testing.T) {
	s := &Sandbox{scale: 60}
	if got := s.scaled(15 * time.Minute); got != 15*time.Second {
		t.Fatalf("15m at 60× = %s", got)
	}
	d := Durations{Pending: time.Second}.withDefaults()
	if d.Pending != time.Second || d.StatusChecks != DefaultDurations.StatusChecks {
		t.Fatalf("defaults %+v", d)
	}
	if _, err := New(Options{Scale: -1}); !errors.Is(err, cloud.ErrInvalidConfig) {
		t.Fatalf("negative scale: %v", err)
	}
}
