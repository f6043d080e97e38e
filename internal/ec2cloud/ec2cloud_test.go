package ec2cloud

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/motoserver"
)

func describeOne(t *testing.T, c *Client, region, id string) cloud.Instance {
	t.Helper()
	got, err := c.Describe(context.Background(), region, []string{id})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("describe %s: %d instances", id, len(got))
	}
	return got[0]
}

func TestLaunchLifecycle(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	ami := f.registerAMI("cml-2.9.0-controller-lifecycle")
	c := f.client
	spec := cloud.LaunchSpec{
		WorkerID: f.id("w-lifecycle"), Region: f.region, Name: "worker one",
		AMINamePattern: "cml-2.9.*-lifecycle-" + f.run, InstanceType: "m5zn.metal",
		SubnetIDs: f.subnets, SecurityGroupIDs: []string{f.sg}, RootVolumeGiB: 256,
		Environment: "test", Tags: map[string]string{"team": "net"}, DetailedMonitoring: true,
	}
	inst, err := c.Launch(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if inst.AMIID != ami || inst.InstanceType != "m5zn.metal" || inst.SubnetID != f.subnets[0] || inst.Region != f.region {
		t.Fatalf("launched %+v", inst)
	}
	for k, v := range map[string]string{cloud.TagManaged: "true", cloud.TagWorkerID: f.id("w-lifecycle"), cloud.TagEnvironment: "test", cloud.TagName: "worker one", "team": "net"} {
		if inst.Tags[k] != v {
			t.Errorf("tag %s = %q, want %q", k, inst.Tags[k], v)
		}
	}

	// A retried launch returns the same instance and runs nothing.
	runs := c.Counter().Get("RunInstances")
	again, err := c.Launch(ctx, spec)
	if err != nil || again.ID != inst.ID {
		t.Fatalf("relaunch: %v %+v", err, again)
	}
	if got := c.Counter().Get("RunInstances"); got != runs {
		t.Fatalf("relaunch ran %d more instances", got-runs)
	}

	got := describeOne(t, c, f.region, inst.ID)
	if got.State != cloud.StateRunning || !got.StatusOK() || got.PrivateIP == "" || got.LaunchTime.IsZero() {
		t.Fatalf("running instance: %+v", got)
	}

	if err := c.Stop(ctx, f.region, inst.ID); err != nil {
		t.Fatal(err)
	}
	got = describeOne(t, c, f.region, inst.ID)
	if got.State != cloud.StateStopped || got.SystemStatus != cloud.CheckNotApplicable || got.StateTransitionTime.IsZero() {
		t.Fatalf("stopped instance: %+v", got)
	}
	if err := c.Start(ctx, f.region, inst.ID); err != nil {
		t.Fatal(err)
	}
	if got = describeOne(t, c, f.region, inst.ID); got.State != cloud.StateRunning {
		t.Fatalf("restarted: %s", got.State)
	}

	if err := c.Tag(ctx, f.region, inst.ID, map[string]string{"owner": "ana"}, []string{"team"}); err != nil {
		t.Fatal(err)
	}
	got = describeOne(t, c, f.region, inst.ID)
	if got.Tags["owner"] != "ana" || got.Tags["team"] != "" || got.Tags[cloud.TagManaged] != "true" {
		t.Fatalf("tags after update: %v", got.Tags)
	}
	if err := c.Tag(ctx, f.region, inst.ID, nil, []string{cloud.TagManaged}); !errors.Is(err, cloud.ErrInvalidConfig) {
		t.Fatalf("removing the managed tag: %v", err)
	}
	if got.Monitoring != "enabled" {
		t.Fatalf("monitoring %q, want enabled at launch", got.Monitoring)
	}

	if err := c.Terminate(ctx, f.region, inst.ID); err != nil {
		t.Fatal(err)
	}
	if got = describeOne(t, c, f.region, inst.ID); got.State != cloud.StateTerminated {
		t.Fatalf("terminated: %s", got.State)
	}
}

// moto 5.2 does not implement MonitorInstances: check the request we send
// and answer it in the middleware.
func TestEnableMonitoring(t *testing.T) {
	var sent []string
	answer := func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("answerMonitor",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if p, ok := in.Parameters.(*ec2.MonitorInstancesInput); ok {
					sent = append(sent, p.InstanceIds...)
					return middleware.InitializeOutput{Result: &ec2.MonitorInstancesOutput{}}, middleware.Metadata{}, nil
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}
	f := newFixture(t, Options{APIOptions: []func(*middleware.Stack) error{answer}})
	if err := f.client.EnableMonitoring(context.Background(), f.region, "i-0123456789abcdef0"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sent, []string{"i-0123456789abcdef0"}) || f.client.Counter().Get("MonitorInstances") != 1 {
		t.Fatalf("sent %v, counted %v", sent, f.client.Counter().Calls())
	}
}

func TestNotFound(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	const ghost = "i-0123456789abcdef0"
	if err := f.client.Terminate(ctx, f.region, ghost); err != nil {
		t.Fatalf("terminate of a gone instance: %v", err)
	}
	for name, op := range map[string]func() error{
		"start": func() error { return f.client.Start(ctx, f.region, ghost) },
		"stop":  func() error { return f.client.Stop(ctx, f.region, ghost) },
	} {
		err := op()
		var ce *cloud.Error
		if !errors.Is(err, cloud.ErrNotFound) || !errors.As(err, &ce) || !strings.Contains(ce.Message, ghost) {
			t.Errorf("%s: %v, want ErrNotFound with the AWS message", name, err)
		}
	}
	got, err := f.client.Describe(ctx, f.region, []string{ghost})
	if err != nil || len(got) != 0 {
		t.Fatalf("describe of a gone instance: %v %v", got, err)
	}
}

func TestLaunchInvalidConfig(t *testing.T) {
	f := newFixture(t, Options{})
	ami := f.registerAMI("cml-invalid-config")
	base := cloud.LaunchSpec{WorkerID: "w-bad", Region: f.region, AMIID: ami, InstanceType: "m5zn.metal", SubnetIDs: f.subnets}
	tests := []struct {
		name   string
		mutate func(*cloud.LaunchSpec)
	}{
		{"no matching AMI", func(s *cloud.LaunchSpec) { s.AMIID, s.AMINamePattern = "", "no-such-image-*" }},
		{"unknown AMI id", func(s *cloud.LaunchSpec) { s.AMIID = "ami-00000000000000000" }},
		{"unconfigured region", func(s *cloud.LaunchSpec) { s.Region = "me-south-1" }},
		{"spec invalid", func(s *cloud.LaunchSpec) { s.InstanceType = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.mutate(&s)
			if _, err := f.client.Launch(context.Background(), s); !errors.Is(err, cloud.ErrInvalidConfig) {
				t.Fatalf("err = %v, want ErrInvalidConfig", err)
			}
		})
	}
}

// failRun makes RunInstances fail with code for the listed subnets.
func failRun(code string, subnets ...string) func(*middleware.Stack) error {
	return func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("failRun",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if p, ok := in.Parameters.(*ec2.RunInstancesInput); ok && slices.Contains(subnets, aws.ToString(p.SubnetId)) {
					return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: code, Message: "injected for " + aws.ToString(p.SubnetId)}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
	}
}

func TestLaunchCapacityFallback(t *testing.T) {
	// The fault is injected per subnet once the fixture knows the subnets.
	var bad []string
	inject := func(stack *middleware.Stack) error { return failRun("InsufficientInstanceCapacity", bad...)(stack) }
	f := newFixture(t, Options{APIOptions: []func(*middleware.Stack) error{inject}})
	ami := f.registerAMI("cml-capacity")
	ctx := context.Background()

	bad = []string{f.subnets[0]}
	inst, err := f.client.Launch(ctx, cloud.LaunchSpec{WorkerID: f.id("w-cap"), Region: f.region, AMIID: ami, InstanceType: "m5zn.metal", SubnetIDs: f.subnets})
	if err != nil {
		t.Fatal(err)
	}
	if inst.SubnetID != f.subnets[1] {
		t.Fatalf("launched in %s, want fallback %s", inst.SubnetID, f.subnets[1])
	}
	if got := f.client.Counter().Get("RunInstances"); got != 2 {
		t.Fatalf("RunInstances calls = %d, want 2", got)
	}

	bad = f.subnets
	_, err = f.client.Launch(ctx, cloud.LaunchSpec{WorkerID: f.id("w-cap2"), Region: f.region, AMIID: ami, InstanceType: "m5zn.metal", SubnetIDs: f.subnets})
	if !errors.Is(err, cloud.ErrCapacity) {
		t.Fatalf("all subnets full: %v, want ErrCapacity", err)
	}
	for _, s := range f.subnets {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error does not name subnet %s: %v", s, err)
		}
	}
}

func TestLaunchStopsOnOtherErrors(t *testing.T) {
	var bad []string
	inject := func(stack *middleware.Stack) error { return failRun("VcpuLimitExceeded", bad...)(stack) }
	f := newFixture(t, Options{APIOptions: []func(*middleware.Stack) error{inject}})
	ami := f.registerAMI("cml-quota")
	bad = []string{f.subnets[0]}
	_, err := f.client.Launch(context.Background(), cloud.LaunchSpec{WorkerID: f.id("w-quota"), Region: f.region, AMIID: ami, InstanceType: "m5zn.metal", SubnetIDs: f.subnets})
	if !errors.Is(err, cloud.ErrInvalidConfig) || !strings.Contains(err.Error(), "VcpuLimitExceeded") {
		t.Fatalf("err = %v, want ErrInvalidConfig with the AWS code", err)
	}
	if got := f.client.Counter().Get("RunInstances"); got != 1 {
		t.Fatalf("RunInstances calls = %d: a quota error must not try other subnets", got)
	}
}

func TestDescribeBatching(t *testing.T) {
	f := newFixture(t, Options{})
	ami := f.registerAMI("cml-batch")
	ids := f.runBulk(ami, 250, nil)
	stopped := ids[:20]
	if _, err := f.raw.StopInstances(context.Background(), &ec2.StopInstancesInput{InstanceIds: stopped}); err != nil {
		t.Fatal(err)
	}
	ghost := "i-0000000000000dead"
	query := append(slices.Clone(ids), ghost, ids[0]) // unknown and duplicate ids
	f.client.Counter().Reset()
	got, err := f.client.Describe(context.Background(), f.region, query)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(ids) {
		t.Fatalf("described %d, want %d", len(got), len(ids))
	}
	for _, in := range got {
		want := cloud.StateRunning
		if slices.Contains(stopped, in.ID) {
			want = cloud.StateStopped
		}
		if in.State != want {
			t.Fatalf("%s: state %s, want %s", in.ID, in.State, want)
		}
		if want == cloud.StateRunning && !in.StatusOK() {
			t.Fatalf("%s: status %s/%s", in.ID, in.SystemStatus, in.InstanceStatus)
		}
	}
	calls := f.client.Counter().Calls()
	// One DescribeInstances for 250 ids, one more after dropping the
	// unknown id; status only for the 230 running: ⌈230/100⌉ = 3.
	want := map[string]int{"DescribeInstances": 2, "DescribeInstanceStatus": 3}
	for op, n := range want {
		if calls[op] != n {
			t.Errorf("%s calls = %d, want %d (all: %v)", op, calls[op], n, calls)
		}
	}
}

func TestDiscover(t *testing.T) {
	f := newFixture(t, Options{})
	ctx := context.Background()
	cml := f.registerAMI("cml-2.9.0-discover")
	other := f.registerAMI("ubuntu-24.04-discover")
	managed := f.runBulk(cml, 3, map[string]string{cloud.TagManaged: "true", "env": "lab"})
	unmanagedCML := f.runBulk(cml, 2, nil)
	plain := f.runBulk(other, 2, map[string]string{"env": "lab"})
	if _, err := f.raw.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: managed[:1]}); err != nil {
		t.Fatal(err)
	}

	ids := func(insts []cloud.Instance) []string {
		out := make([]string, len(insts))
		for i, in := range insts {
			out[i] = in.ID
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...[]string) []string {
		out := slices.Concat(s...)
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name   string
		filter cloud.DiscoverFilter
		want   []string
	}{
		{"managed tag, live only", cloud.DiscoverFilter{Tags: map[string]string{cloud.TagManaged: "true", "test-run": f.run}}, sorted(managed[1:])},
		{"tag key", cloud.DiscoverFilter{Tags: map[string]string{"env": "", "test-run": f.run}}, sorted(managed[1:], plain)},
		{"AMI pattern", cloud.DiscoverFilter{AMINamePattern: "cml-2.9*discover-" + f.run}, sorted(managed[1:], unmanagedCML)},
		{"AMI pattern and tag", cloud.DiscoverFilter{AMINamePattern: "cml-*-" + f.run, Tags: map[string]string{"env": "lab"}}, sorted(managed[1:])},
		{"terminated", cloud.DiscoverFilter{Tags: map[string]string{cloud.TagManaged: "true", "test-run": f.run}, States: []cloud.State{cloud.StateTerminated}}, sorted(managed[:1])},
		{"pattern without images", cloud.DiscoverFilter{AMINamePattern: "nothing-*-" + f.run}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := f.client.Discover(ctx, f.region, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			if g := ids(got); !slices.Equal(g, tt.want) && !(len(g) == 0 && len(tt.want) == 0) {
				t.Fatalf("got %v\nwant %v", g, tt.want)
			}
		})
	}
}

func TestMetricsChunking(t *testing.T) {
	f := newFixture(t, Options{})
	// CloudWatch needs no instances: the dimension is just a string.
	ids := make([]string, 300)
	for i := range ids {
		ids[i] = fmt.Sprintf("i-%017x", 0xabc000+i)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	older, newer := now.Add(-4*time.Minute), now.Add(-2*time.Minute)
	f.putMetrics("AWS/EC2", "CPUUtilization", ids, older, func(i int) float64 { return 99 })
	f.putMetrics("AWS/EC2", "CPUUtilization", ids, newer, func(i int) float64 { return float64(i % 100) })
	f.putMetrics("CWAgent", "mem_used_percent", ids[:100], newer, func(i int) float64 { return 50 + float64(i%10) })

	f.client.Counter().Reset()
	got, err := f.client.Metrics(context.Background(), f.region, append(ids, "i-000000000000nodata"), now.Add(-10*time.Minute), now)
	if err != nil {
		t.Fatal(err)
	}
	// 301 instances × 2 queries = 602 > 500: two calls.
	if n := f.client.Counter().Get("GetMetricData"); n != 2 {
		t.Fatalf("GetMetricData calls = %d, want 2", n)
	}
	if len(got) != len(ids) {
		t.Fatalf("samples for %d instances, want %d", len(got), len(ids))
	}
	for i, id := range ids {
		s := got[id]
		if !s.HasCPU() || s.CPUPercent != float64(i%100) || !s.CPUAt.Equal(newer) {
			t.Fatalf("%s: cpu %v at %v, want the newest %v", id, s.CPUPercent, s.CPUAt, float64(i%100))
		}
		if wantMem := i < 100; s.HasMemory() != wantMem || (wantMem && s.MemoryPercent != 50+float64(i%10)) {
			t.Fatalf("%s: memory %v (has %v)", id, s.MemoryPercent, s.HasMemory())
		}
	}
}

func TestMetricBatchesNeverExceedLimit(t *testing.T) {
	for _, n := range []int{0, 1, 249, 250, 251, 1000, 1001} {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("i-%d", i)
		}
		batches := metricBatches(ids, 60)
		total := 0
		for _, b := range batches {
			if len(b.queries) > MaxMetricQueries {
				t.Fatalf("n=%d: batch of %d queries", n, len(b.queries))
			}
			total += len(b.queries)
		}
		minCalls := (2*n + MaxMetricQueries - 1) / MaxMetricQueries
		if total != 2*n || len(batches) != minCalls {
			t.Fatalf("n=%d: %d queries in %d batches, want %d in %d", n, total, len(batches), 2*n, minCalls)
		}
	}
}

func TestCrossAccountRole(t *testing.T) {
	cfg := motoserver.Config(t)
	region := freshRegion(t)
	run := fmt.Sprintf("%x", time.Now().UnixNano())
	counter := NewCounter()
	withRole, err := New(cfg, Options{Counter: counter, Regions: []Region{{Name: region, RoleARN: "arn:aws:iam::111122223333:role/cmlcm-fleet", ExternalID: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := New(cfg, Options{Regions: []Region{{Name: region}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The image lives in the role's account: register it through the role.
	r, err := withRole.region(region)
	if err != nil {
		t.Fatal(err)
	}
	img, err := r.ec2.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String("cml-xacct-" + run), RootDeviceName: aws.String("/dev/sda1")})
	if err != nil {
		t.Fatal(err)
	}
	inst, err := withRole.Launch(ctx, cloud.LaunchSpec{WorkerID: "w-xacct-" + run, Region: region, AMIID: aws.ToString(img.ImageId), InstanceType: "m5zn.metal"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := withRole.Describe(ctx, region, []string{inst.ID}); err != nil || len(got) != 1 {
		t.Fatalf("describe through the role: %v %v", got, err)
	}
	// The base account does not see the other account's instance.
	if got, err := direct.Describe(ctx, region, []string{inst.ID}); err != nil || len(got) != 0 {
		t.Fatalf("describe in the base account: %v %v", got, err)
	}
	// Credentials are cached: one AssumeRole for all those calls.
	if n := counter.Get("AssumeRole"); n != 1 {
		t.Fatalf("AssumeRole calls = %d, want 1", n)
	}
}

func TestThrottlingIsRetriedThenClassified(t *testing.T) {
	throttle := func(stack *middleware.Stack) error {
		// After the retry middleware, like a real 503 from EC2.
		return stack.Finalize.Add(middleware.FinalizeMiddlewareFunc("throttle",
			func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded."}
			}), middleware.After)
	}
	f := newFixture(t, Options{MaxAttempts: 3, MaxBackoff: time.Millisecond})
	c, err := New(f.cfg, Options{Regions: []Region{{Name: f.region}}, MaxAttempts: 3, MaxBackoff: time.Millisecond, APIOptions: []func(*middleware.Stack) error{throttle}})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Stop(context.Background(), f.region, "i-0123456789abcdef0")
	if !errors.Is(err, cloud.ErrThrottled) {
		t.Fatalf("err = %v, want ErrThrottled", err)
	}
	if c.Counter().Get("StopInstances") != 1 || c.Counter().Attempts() != 3 {
		t.Fatalf("calls %v attempts %d, want 1 call and 3 attempts", c.Counter().Calls(), c.Counter().Attempts())
	}
}

func TestEveryCallHasATimeout(t *testing.T) {
	hang := func(stack *middleware.Stack) error {
		return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("hang",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				<-ctx.Done()
				return middleware.InitializeOutput{}, middleware.Metadata{}, ctx.Err()
			}), middleware.After)
	}
	cfg := motoserver.Config(t)
	c, err := New(cfg, Options{CallTimeout: 50 * time.Millisecond, APIOptions: []func(*middleware.Stack) error{hang}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = c.Describe(context.Background(), cfg.Region, []string{"i-0123456789abcdef0"})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %s, want a deadline error", err, time.Since(start))
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		code string
		want error
	}{
		{"InsufficientInstanceCapacity", cloud.ErrCapacity},
		{"RequestLimitExceeded", cloud.ErrThrottled},
		{"Throttling", cloud.ErrThrottled},
		{"InvalidInstanceID.NotFound", cloud.ErrNotFound},
		{"IncorrectInstanceState", cloud.ErrInvalidState},
		{"InvalidAMIID.NotFound", cloud.ErrInvalidConfig},
		{"InvalidSubnetID.NotFound", cloud.ErrInvalidConfig},
		{"InvalidParameterValue", cloud.ErrInvalidConfig},
		{"UnauthorizedOperation", cloud.ErrInvalidConfig},
		{"VcpuLimitExceeded", cloud.ErrInvalidConfig},
		{"InternalError", nil},
	}
	for _, tt := range tests {
		err := classify("Op", &smithy.GenericAPIError{Code: tt.code, Message: "aws says " + tt.code})
		var ce *cloud.Error
		if !errors.As(err, &ce) || ce.Kind != tt.want || ce.Message != "aws says "+tt.code {
			t.Errorf("%s: %#v, want kind %v", tt.code, ce, tt.want)
		}
	}
	if classify("Op", nil) != nil {
		t.Error("nil error classified")
	}
}

func TestMissingInstanceIDs(t *testing.T) {
	for msg, want := range map[string][]string{
		"The instance ID 'i-0123456789abcdef0' does not exist":            {"i-0123456789abcdef0"},
		"The instance IDs 'i-0123456789abcdef0, i-1234567a' do not exist": {"i-0123456789abcdef0", "i-1234567a"},
		"something else": nil,
	} {
		err := classify("DescribeInstances", &smithy.GenericAPIError{Code: "InvalidInstanceID.NotFound", Message: msg})
		if got := missingInstanceIDs(err); !slices.Equal(got, want) {
			t.Errorf("%q: %v, want %v", msg, got, want)
		}
	}
}

func TestClientToken(t *testing.T) {
	long := strings.Repeat("w", 80)
	tests := []struct {
		worker  string
		attempt int
		subnet  string
		want    string
	}{
		{"w-1", 0, "subnet-a", "w-1"},
		{"w-1", 1, "subnet-b", "w-1/subnet-b"},
		{long, 0, "", ""},
	}
	for _, tt := range tests {
		got := clientToken(tt.worker, tt.attempt, tt.subnet)
		if tt.want != "" && got != tt.want {
			t.Errorf("clientToken(%q,%d) = %q, want %q", tt.worker, tt.attempt, got, tt.want)
		}
		if len(got) > 64 || got == "" {
			t.Errorf("token %q is not a valid client token", got)
		}
	}
	if a, b := clientToken(long, 0, ""), clientToken(long, 0, ""); a != b {
		t.Error("hashed token is not stable")
	}
}

func TestTransitionTime(t *testing.T) {
	got := transitionTime("User initiated (2024-05-01 10:11:12 GMT)")
	if want := time.Date(2024, 5, 1, 10, 11, 12, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("got %v", got)
	}
	if !transitionTime("").IsZero() {
		t.Fatal("empty reason has a time")
	}
}

func TestNewRejectsBadRegions(t *testing.T) {
	for name, opts := range map[string]Options{
		"duplicate":  {Regions: []Region{{Name: "us-east-1"}, {Name: "us-east-1"}}},
		"unnamed":    {Regions: []Region{{RoleARN: "arn:aws:iam::1:role/x"}}},
		"odd period": {MetricPeriod: 1500 * time.Millisecond},
	} {
		if _, err := New(aws.Config{Region: "us-east-1"}, opts); !errors.Is(err, cloud.ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := New(aws.Config{}, Options{}); !errors.Is(err, cloud.ErrInvalidConfig) {
		t.Errorf("no region at all: %v", err)
	}
}
