package local

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/fleet"
	"github.com/cmlcm/cmlcm/internal/idle"
	"github.com/cmlcm/cmlcm/internal/sandbox"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// DemoTag marks the sandbox instances of the demo fleet.
const DemoTag = "cmlcm:demo"

var demo = []struct {
	name, region, team string
}{
	{"demo-paris", "eu-west-3", "emea"},
	{"demo-austin", "us-east-1", "amer"},
	{"demo-sydney", "ap-southeast-2", "apac"},
}

// SeedDemo launches a small demo fleet in the sandbox and imports it
// through the fleet service, as an admin would: three workers in three
// regions, one with its own idle policy and one with a weekday wake-up
// schedule. It waits for the instances to run before importing them, so
// they arrive with their addresses and CML endpoints. Demo instances that
// exist already are not launched again, and imported ones are skipped.
func SeedDemo(ctx context.Context, rt *Runtime) error {
	ctx = event.WithMeta(ctx, event.Meta{Actor: event.SystemActor("seed-demo")})
	filter := cloud.DiscoverFilter{Tags: map[string]string{DemoTag: ""}}
	for _, d := range demo {
		found, err := rt.Sandbox.Discover(ctx, d.region, filter)
		if err != nil {
			return err
		}
		if len(found) == 0 {
			_, err := rt.Sandbox.Launch(ctx, cloud.LaunchSpec{WorkerID: uuid.Must(uuid.NewV7()).String(), Region: d.region,
				Name: d.name, AMIID: sandbox.DefaultImages[0].ID, InstanceType: "m5zn.metal", Environment: "local",
				Tags: map[string]string{DemoTag: "true", "team": d.team}})
			if err != nil {
				return fmt.Errorf("launch %s: %w", d.name, err)
			}
		}
	}
	for _, d := range demo {
		for {
			found, err := rt.Sandbox.Discover(ctx, d.region, filter)
			if err != nil {
				return err
			}
			if len(found) > 0 && found[0].State == cloud.StateRunning && found[0].CMLURL() != "" {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
		res, err := rt.Fleet.Import(ctx, fleet.ImportRequest{Region: d.region, TagKey: DemoTag})
		if err != nil {
			return fmt.Errorf("import %s: %w", d.name, err)
		}
		for _, w := range res.Imported {
			switch w.Name {
			case "demo-austin":
				p := idle.DefaultPolicy()
				p.TimeoutMinutes, p.WarningMinutes = 30, 5
				_, err = rt.Fleet.SetIdlePolicy(ctx, w.ID, &p)
			case "demo-sydney":
				_, err = rt.Fleet.SetSchedule(ctx, w.ID, &worker.Schedule{Timezone: "Australia/Sydney",
					Wakeups: []worker.Wakeup{{Days: []string{"mon", "tue", "wed", "thu", "fri"}, At: "08:30"}}})
			}
			if err != nil {
				return fmt.Errorf("configure %s: %w", w.Name, err)
			}
			rt.Log.Info("demo worker imported", "worker", w.ID, "name", w.Name, "region", d.region)
		}
	}
	return nil
}
