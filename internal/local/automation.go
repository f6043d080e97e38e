package local

import (
	"context"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cmlcm/cmlcm/internal/ec2events"
)

// wireAutomation connects the automation to the runtime: the sandbox's EC2
// state-change notifications go to the same handler lambdas/ec2events
// runs. The provisioning runner, the tick and the licence jobs plug in
// here too (fleet.Service.SetAutomation); until they do, the operations
// that need them answer 503.
func wireAutomation(ctx context.Context, rt *Runtime) error {
	h := ec2events.New(rt.ReadModel, rt.Fleet.Workers(), rt.Log)
	unsubscribe := rt.Sandbox.Subscribe(func(e events.CloudWatchEvent) {
		if _, err := h.Handle(ctx, e); err != nil {
			rt.Log.Warn("EC2 state change not recorded", "err", err)
		}
	})
	rt.OnClose(func() error { unsubscribe(); return nil })
	return nil
}
