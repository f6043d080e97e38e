package local

import (
	"context"
	"errors"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/ec2events"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/fleet"
	"github.com/cmlcm/cmlcm/internal/lab"
	"github.com/cmlcm/cmlcm/internal/monitor"
	"github.com/cmlcm/cmlcm/internal/provision"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/telemetry"
)

// wireAutomation connects the automation to the runtime, the same handlers
// the Lambdas run: the sandbox's EC2 state-change notifications go to the
// ec2events handler; the provisioning workflow runs in-process from the
// same spec as the Step Functions state machine; the licence jobs poll CML
// in the background; and the tick runs every o.Tick (an EventBridge
// schedule in production).
func wireAutomation(ctx context.Context, rt *Runtime, o RuntimeOptions) error {
	h := ec2events.New(rt.ReadModel, rt.Fleet.Workers(), rt.Log)
	unsubscribe := rt.Sandbox.Subscribe(func(e events.CloudWatchEvent) {
		if _, err := h.Handle(ctx, e); err != nil {
			rt.Log.Warn("EC2 state change not recorded", "err", err)
		}
	})
	rt.OnClose(func() error { unsubscribe(); return nil })

	settingsRepo := eventstore.NewRepository(rt.Store, settings.New)
	values := func(ctx context.Context) (settings.Values, error) {
		s, err := settingsRepo.Load(ctx, settings.ID)
		if errors.Is(err, eventstore.ErrNotFound) {
			return settings.Defaults(), nil // never changed: the defaults hold
		}
		if err != nil {
			return settings.Values{}, err
		}
		return s.Values(), nil
	}
	tokens := monitor.TokenFunc(rt.Fleet.LicenseToken)
	tasks := provision.NewTasks(provision.Deps{Workers: rt.Fleet.Workers(), Settings: values, Cloud: rt.Sandbox,
		Tokens: tokens, Environment: "local", Logger: rt.Log})
	runner := provision.NewRunner(tasks, provision.Spec(), rt.Log)
	licenses := monitor.NewLicenseJobs(rt.Fleet.Workers(), values, tokens, nil, true, rt.Log)
	mon := monitor.New(monitor.Options{
		Workers:   rt.Fleet.Workers(),
		Labs:      eventstore.NewRepository(rt.Store, lab.New),
		ReadModel: rt.ReadModel,
		Settings:  values,
		Cloud:     rt.Sandbox,
		Power:     fleetPower{rt.Fleet},
		Telemetry: telemetrySink{rt.Telemetry},
		License:   licenses,
		Publisher: rt.Bus,
		Importer:  fleetImporter{rt.Fleet},
		Logger:    rt.Log,
	})
	rt.Fleet.SetAutomation(runner, licenses, mon)
	if o.Tick > 0 {
		rt.Go(func(ctx context.Context) error { return mon.Run(ctx, monitor.TickerOptions{Every: o.Tick}) })
	}
	rt.OnClose(func() error { runner.Close(); licenses.Wait(); return nil })
	return nil
}

// fleetPower sends the automation's power changes through the fleet
// service, so auto-pauses and wake-ups run the same code as people's.
type fleetPower struct{ svc *fleet.Service }

func (p fleetPower) Start(ctx context.Context, id, reason string, auto bool) error {
	_, err := p.svc.Start(ctx, id, fleet.PowerOptions{Reason: reason, Auto: auto})
	return err
}

func (p fleetPower) Stop(ctx context.Context, id, reason string, auto bool) error {
	_, err := p.svc.Stop(ctx, id, fleet.PowerOptions{Reason: reason, Auto: auto})
	return err
}

func (p fleetPower) AutoPause(ctx context.Context, id string, idleMinutes int) error {
	_, err := p.svc.Stop(ctx, id, fleet.PowerOptions{Reason: "idle", Auto: true, IdleMinutes: idleMinutes})
	return err
}

// fleetImporter imports discovered instances through the fleet service,
// like an admin's import by instance id.
type fleetImporter struct{ svc *fleet.Service }

func (i fleetImporter) ImportInstance(ctx context.Context, in cloud.Instance) error {
	_, err := i.svc.Import(ctx, fleet.ImportRequest{Region: in.Region, InstanceID: in.ID})
	return err
}

// telemetrySink writes the monitor's samples into the telemetry store.
type telemetrySink struct {
	store interface {
		Put(ctx context.Context, retention time.Duration, samples ...telemetry.Sample) error
	}
}

func (t telemetrySink) Put(ctx context.Context, s monitor.Sample) error {
	return t.store.Put(ctx, s.ExpiresAt.Sub(s.At), telemetry.Sample{WorkerID: s.WorkerID, At: s.At,
		CPUPercent: s.CPUPercent, MemoryPercent: s.MemoryPercent, DiskPercent: s.DiskPercent,
		RunningNodes: s.RunningNodes, LabCount: s.Labs})
}
