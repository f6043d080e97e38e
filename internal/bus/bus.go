// Package bus publishes domain events as integration events: to an
// EventBridge bus in production, to in-process subscribers locally. Both
// deliver at least once; consumers deduplicate by the event id.
package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/cmlcm/cmlcm/internal/event"
)

// Source is the EventBridge source of our integration events; the detail
// type is the event type (e.g. cml.worker.paused.v1) and the detail is the
// envelope, whose schema is in events/schemas.
const Source = "cmlcm"

// maxBatch is EventBridge's PutEvents entry limit.
const maxBatch = 10

// EventBridgeAPI is the part of the EventBridge client the publisher uses.
type EventBridgeAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridge publishes to one event bus.
type EventBridge struct {
	api         EventBridgeAPI
	busName     string
	maxAttempts int
	timeout     time.Duration
	log         *slog.Logger
}

// NewEventBridge returns a publisher to the named bus.
func NewEventBridge(api EventBridgeAPI, busName string, log *slog.Logger) *EventBridge {
	if log == nil {
		log = slog.Default()
	}
	return &EventBridge{api: api, busName: busName, maxAttempts: 5, timeout: 10 * time.Second, log: log}
}

// Publish sends events in batches of 10. Entries EventBridge rejects are
// retried with jittered backoff a bounded number of times; what still fails
// is returned as an error so the caller's batch is redelivered.
func (p *EventBridge) Publish(ctx context.Context, events []event.Event) error {
	for start := 0; start < len(events); start += maxBatch {
		batch := events[start:min(start+maxBatch, len(events))]
		entries := make([]types.PutEventsRequestEntry, len(batch))
		for i, e := range batch {
			detail, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("encode %s: %w", e.ID, err)
			}
			entries[i] = types.PutEventsRequestEntry{
				EventBusName: aws.String(p.busName),
				Source:       aws.String(Source),
				DetailType:   aws.String(e.Type),
				Detail:       aws.String(string(detail)),
				Time:         aws.Time(e.Time),
				Resources:    []string{},
			}
		}
		if err := p.put(ctx, entries); err != nil {
			return err
		}
	}
	return nil
}

func (p *EventBridge) put(ctx context.Context, entries []types.PutEventsRequestEntry) error {
	var lastErr error
	for attempt := 1; attempt <= p.maxAttempts; attempt++ {
		if attempt > 1 {
			d := time.Duration(rand.Int64N(int64(50*time.Millisecond) << attempt))
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(d):
			}
		}
		cctx, cancel := context.WithTimeout(ctx, p.timeout)
		out, err := p.api.PutEvents(cctx, &eventbridge.PutEventsInput{Entries: entries})
		cancel()
		if err != nil {
			lastErr = err
			continue
		}
		if out.FailedEntryCount == 0 {
			return nil
		}
		// Keep only the failed entries (results are positional).
		var retry []types.PutEventsRequestEntry
		var codes []string
		for i, r := range out.Entries {
			if r.ErrorCode != nil && i < len(entries) {
				retry = append(retry, entries[i])
				codes = append(codes, aws.ToString(r.ErrorCode)+": "+aws.ToString(r.ErrorMessage))
			}
		}
		lastErr = fmt.Errorf("%d entries failed: %v", len(retry), codes)
		entries = retry
	}
	return fmt.Errorf("put events to %s after %d attempts: %w", p.busName, p.maxAttempts, lastErr)
}

// Local is the in-process bus of the local server: every published event
// reaches every subscriber, in order, synchronously.
type Local struct {
	mu   sync.RWMutex
	subs map[int]func(context.Context, event.Event)
	next int
}

// NewLocal returns an empty in-process bus.
func NewLocal() *Local { return &Local{subs: map[int]func(context.Context, event.Event){}} }

// Subscribe registers fn and returns a function that unsubscribes it.
// fn must not block for long: publication waits for it.
func (l *Local) Subscribe(fn func(context.Context, event.Event)) (unsubscribe func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.next
	l.next++
	l.subs[id] = fn
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.subs, id)
	}
}

// Publish implements the projector's Publisher.
func (l *Local) Publish(ctx context.Context, events []event.Event) error {
	l.mu.RLock()
	subs := make([]func(context.Context, event.Event), 0, len(l.subs))
	for _, s := range l.subs {
		subs = append(subs, s)
	}
	l.mu.RUnlock()
	for _, e := range events {
		if err := ctx.Err(); err != nil {
			return errors.Join(errors.New("publish interrupted"), err)
		}
		for _, s := range subs {
			s(ctx, e)
		}
	}
	return nil
}
