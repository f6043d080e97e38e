package provision_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/ec2cloud"
	"github.com/cmlcm/cmlcm/internal/ec2events"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	esbolt "github.com/cmlcm/cmlcm/internal/eventstore/bolt"
	"github.com/cmlcm/cmlcm/internal/monitor"
	"github.com/cmlcm/cmlcm/internal/motoserver"
	"github.com/cmlcm/cmlcm/internal/provision"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/worker"
)

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.Stop()
	os.Exit(code)
}

// The moto region of this package (other packages use others).
const motoRegion = "ca-central-1"

type motoFixture struct {
	ctx     context.Context
	c       *ec2cloud.Client
	raw     *ec2.Client
	ami     string
	workers *eventstore.Repository[*worker.Worker]
	tasks   *provision.Tasks
}

func newMoto(t *testing.T) *motoFixture {
	t.Helper()
	ctx := context.Background()
	cfg := motoserver.Config(t)
	log := slog.New(slog.DiscardHandler)
	c, err := ec2cloud.New(cfg, ec2cloud.Options{Regions: []ec2cloud.Region{{Name: motoRegion}}, CloudWatchQuery: true, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rcfg := cfg.Copy()
	rcfg.Region = motoRegion
	raw := ec2.NewFromConfig(rcfg)
	img, err := raw.RegisterImage(ctx, &ec2.RegisterImageInput{Name: aws.String(fmt.Sprintf("cml-2.9-provision-%x", rand.Uint64())),
		RootDeviceName: aws.String("/dev/xvda"), Architecture: types.ArchitectureValuesX8664,
		BlockDeviceMappings: []types.BlockDeviceMapping{{DeviceName: aws.String("/dev/xvda"), Ebs: &types.EbsBlockDevice{VolumeSize: aws.Int32(8)}}}})
	if err != nil {
		t.Fatal(err)
	}
	store, err := esbolt.Open(filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	workers := eventstore.NewRepository(store, worker.New)
	tasks := provision.NewTasks(provision.Deps{Workers: workers, Cloud: c, Environment: "test", Logger: log,
		Settings: func(context.Context) (settings.Values, error) { return settings.Defaults(), nil }})
	return &motoFixture{ctx: ctx, c: c, raw: raw, ami: *img.ImageId, workers: workers, tasks: tasks}
}

func (f *motoFixture) create(t *testing.T) string {
	t.Helper()
	id := fmt.Sprintf("w-moto-%x", rand.Uint64())
	if _, err := f.workers.Create(f.ctx, id, func(w *worker.Worker) error {
		return w.Create(worker.CreateSpec{Name: id, Region: motoRegion, InstanceType: "t3.medium", AMIID: f.ami})
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *motoFixture) state(t *testing.T, id string) cloud.State {
	t.Helper()
	in, err := f.c.Describe(f.ctx, motoRegion, []string{id})
	if err != nil || len(in) != 1 {
		t.Fatalf("describe %s: %v %v", id, in, err)
	}
	return in[0].State
}

// TestMotoLaunchStopTerminate runs the workflow's launch and wait steps,
// a pause, and the compensation against the EC2 API (moto).
func TestMotoLaunchStopTerminate(t *testing.T) {
	f := newMoto(t)
	id := f.create(t)
	st := provision.State{WorkerID: id, CorrelationID: "moto", Timeouts: provision.Timeouts{Running: time.Minute, EC2Poll: 50 * time.Millisecond}}
	var err error
	for _, task := range []string{provision.StepValidate, provision.StepLaunch, provision.StepLaunch} { // the retry finds the same instance
		if st, err = f.tasks.Run(f.ctx, task, st); err != nil {
			t.Fatalf("%s: %v", task, err)
		}
	}
	if st.InstanceID == "" || !st.Launched {
		t.Fatalf("state %+v", st)
	}
	insts, err := f.c.Discover(f.ctx, motoRegion, cloud.DiscoverFilter{Tags: map[string]string{cloud.TagWorkerID: id}})
	if err != nil || len(insts) != 1 || !insts[0].Managed() {
		t.Fatalf("instances tagged with the worker: %+v %v (want exactly one, managed)", insts, err)
	}
	for st.Done = false; !st.Done; {
		if st, err = f.tasks.Run(f.ctx, provision.StepWaitRunning, st); err != nil {
			t.Fatal(err)
		}
	}
	w, _ := f.workers.Load(f.ctx, id)
	if w.Status() != worker.StatusRunning || w.InstanceID() != st.InstanceID {
		t.Fatalf("worker %s on %s (EC2 %s, provisioning %s %+v)", w.Status(), w.InstanceID(), w.EC2State(), w.Provisioning(), w.View().Provisioning)
	}

	// The EC2 events handler records what EventBridge delivers, in the
	// exact sample shape, in any order.
	index := fakeIndex{st.InstanceID: id}
	h := ec2events.New(index, f.workers, slog.New(slog.DiscardHandler))
	sample := loadSample(t, "ec2-state-change-stopped.json")
	at := time.Now().UTC().Truncate(time.Second).Add(2 * time.Second)
	stopped := withInstance(sample, st.InstanceID, motoRegion, "stopped", at)
	stopping := withInstance(sample, st.InstanceID, motoRegion, "stopping", at.Add(-time.Second))

	// Pause through the same code the idle monitor uses (EC2 StopInstances).
	if _, err := f.workers.Update(f.ctx, id, func(w *worker.Worker) error { return w.ProvisioningCompleted() }); err != nil {
		t.Fatal(err)
	}
	if err := monitor.NewDirectPower(f.workers, f.c).Stop(f.ctx, id, "test", false); err != nil {
		t.Fatal(err)
	}
	if s := f.state(t, st.InstanceID); s != cloud.StateStopped && s != cloud.StateStopping {
		t.Fatalf("after stop: %s", s)
	}
	for i, e := range []events.CloudWatchEvent{stopped, stopping, stopped} { // out of order, replayed
		if _, err := h.Handle(f.ctx, e); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	if w, _ := f.workers.Load(f.ctx, id); w.Status() != worker.StatusStopped || w.EC2State() != worker.EC2Stopped {
		t.Fatalf("after events: %s/%s", w.Status(), w.EC2State())
	}
	if r, _ := h.Handle(f.ctx, withInstance(sample, "i-0notours0000000000", motoRegion, "running", at)); r != ec2events.Unmanaged {
		t.Fatalf("unmanaged instance: %s", r)
	}

	// Compensation terminates what the workflow launched.
	st.Error = &provision.Failure{Step: provision.StepWaitCMLReady, Message: "CML never answered"}
	if _, err := f.tasks.Run(f.ctx, provision.StepCompensate, st); err != nil {
		t.Fatal(err)
	}
	if s := f.state(t, st.InstanceID); s != cloud.StateTerminated && s != cloud.StateShuttingDown {
		t.Fatalf("after compensation: %s", s)
	}
}

// TestMotoImportNeverTerminated: an imported instance is left alone by the compensation.
func TestMotoImportNeverTerminated(t *testing.T) {
	f := newMoto(t)
	out, err := f.raw.RunInstances(f.ctx, &ec2.RunInstancesInput{ImageId: aws.String(f.ami), MinCount: aws.Int32(1), MaxCount: aws.Int32(1),
		InstanceType: types.InstanceTypeT3Medium})
	if err != nil {
		t.Fatal(err)
	}
	inst := *out.Instances[0].InstanceId
	id := fmt.Sprintf("w-imp-%x", rand.Uint64())
	if _, err := f.workers.Create(f.ctx, id, func(w *worker.Worker) error {
		return w.Import(worker.ImportSpec{Name: id, Region: motoRegion, InstanceType: "t3.medium", AMIID: f.ami, InstanceID: inst,
			State: worker.EC2Running, ObservedAt: time.Now().Add(-time.Minute)})
	}); err != nil {
		t.Fatal(err)
	}
	st := provision.State{WorkerID: id, Imported: true}
	if st, err = f.tasks.Run(f.ctx, provision.StepWaitRunning, st); err != nil || !st.Done {
		t.Fatalf("wait running: %+v %v", st, err)
	}
	st.Error = &provision.Failure{Step: provision.StepWaitCMLReady, Message: "no CML"}
	if _, err := f.tasks.Run(f.ctx, provision.StepCompensate, st); err != nil {
		t.Fatal(err)
	}
	if s := f.state(t, inst); s != cloud.StateRunning {
		t.Fatalf("imported instance is %s", s)
	}
}

type fakeIndex map[string]string

func (f fakeIndex) WorkerByInstance(_ context.Context, id string) (readmodel.Worker, error) {
	if w, ok := f[id]; ok {
		return readmodel.Worker{ID: w, InstanceID: id}, nil
	}
	return readmodel.Worker{}, readmodel.ErrNotFound
}

func loadSample(t *testing.T, name string) events.CloudWatchEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "samples", name))
	if err != nil {
		t.Fatal(err)
	}
	var e events.CloudWatchEvent
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if _, err := cloud.ParseStateChange(e); err != nil {
		t.Fatalf("sample %s: %v", name, err)
	}
	return e
}

func withInstance(e events.CloudWatchEvent, instance, region, state string, at time.Time) events.CloudWatchEvent {
	e.Region, e.Time = region, at
	e.Resources = []string{cloud.InstanceARN(region, e.AccountID, instance)}
	e.Detail, _ = json.Marshal(map[string]string{"instance-id": instance, "state": state})
	e.ID = fmt.Sprintf("%s-%s-%d", instance, state, at.Unix())
	return e
}
