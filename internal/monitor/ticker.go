package monitor

import (
	"context"
	"time"
)

// TickerOptions are the local server's clock options (cmlcm serve --tick
// --time-scale): Every is the tick period (default 1m). The time scale
// applies to the sandbox's simulated durations, not to idle timeouts or
// wake-ups, which are wall-clock minutes.
type TickerOptions struct {
	Every time.Duration
}

// Run ticks every opts.Every until ctx ends, each tick covering (previous
// tick, now]. It is the local stand-in for the EventBridge schedule.
func (m *Monitor) Run(ctx context.Context, opts TickerOptions) error {
	every := opts.Every
	if every <= 0 {
		every = time.Minute
	}
	t := time.NewTicker(every)
	defer t.Stop()
	prev := m.o.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		now := m.o.Now()
		if _, err := m.Tick(ctx, prev, now); err != nil {
			m.log.Error("tick failed", "err", err)
		}
		prev = now
	}
}
