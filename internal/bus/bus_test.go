package bus_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/cmlcm/cmlcm/internal/bus"
	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/motoserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.Stop()
	os.Exit(code)
}

func sampleEvents(n int) []event.Event {
	out := make([]event.Event, n)
	for i := range out {
		out[i] = event.Event{ID: fmt.Sprintf("e-%02d", i), Type: "cml.worker.tags_changed.v1", AggregateType: "worker",
			AggregateID: "w1", Version: int64(i + 1), Time: time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC),
			Actor: "alice", CorrelationID: "c1", SchemaVersion: 1, Data: json.RawMessage(`{"tags":{}}`)}
	}
	return out
}

// TestEventBridgeDelivers publishes 25 events (three PutEvents batches) to a
// bus in moto with a rule that forwards to an SQS queue, and reads them all
// back from the queue.
func TestEventBridgeDelivers(t *testing.T) {
	ctx := context.Background()
	cfg := motoserver.Config(t)
	eb := eventbridge.NewFromConfig(cfg)
	sq := sqs.NewFromConfig(cfg)
	name := fmt.Sprintf("cmlcm-test-%d", time.Now().UnixNano())

	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(name)}); err != nil {
		t.Fatal(err)
	}
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	attrs, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{"QueueArn"}})
	if err != nil {
		t.Fatal(err)
	}
	pattern := `{"source":["` + bus.Source + `"]}`
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventBusName: aws.String(name), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), EventBusName: aws.String(name),
		Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(attrs.Attributes["QueueArn"])}}}); err != nil {
		t.Fatal(err)
	}

	calls := &countingAPI{api: eb}
	pub := bus.NewEventBridge(calls, name, nil)
	events := sampleEvents(25)
	if err := pub.Publish(ctx, events); err != nil {
		t.Fatal(err)
	}
	if calls.n != 3 {
		t.Errorf("PutEvents calls = %d, want 3 (batches of 10)", calls.n)
	}

	var got []string
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < len(events) && time.Now().Before(deadline) {
		out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var msg struct {
				Source     string      `json:"source"`
				DetailType string      `json:"detail-type"`
				Detail     event.Event `json:"detail"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &msg); err != nil {
				t.Fatalf("message %s: %v", aws.ToString(m.Body), err)
			}
			if msg.Source != bus.Source || msg.DetailType != msg.Detail.Type {
				t.Errorf("envelope: source %q detail-type %q type %q", msg.Source, msg.DetailType, msg.Detail.Type)
			}
			got = append(got, msg.Detail.ID)
		}
	}
	sort.Strings(got)
	if len(got) != 25 || got[0] != "e-00" || got[24] != "e-24" {
		t.Fatalf("received %d events: %v", len(got), got)
	}
}

type countingAPI struct {
	api bus.EventBridgeAPI
	n   int
}

func (c *countingAPI) PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	c.n++
	return c.api.PutEvents(ctx, in, opts...)
}

// flakyAPI fails some entries, then the whole call, then succeeds: the
// publisher retries only what failed and gives up after its bound.
type flakyAPI struct {
	calls   int
	entries [][]string
	failFor int
}

func (f *flakyAPI) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	f.calls++
	var ids []string
	for _, e := range in.Entries {
		var ev event.Event
		_ = json.Unmarshal([]byte(aws.ToString(e.Detail)), &ev)
		ids = append(ids, ev.ID)
	}
	f.entries = append(f.entries, ids)
	if f.calls <= f.failFor {
		if f.calls%2 == 0 {
			return nil, errors.New("connection reset")
		}
		out := &eventbridge.PutEventsOutput{FailedEntryCount: 1, Entries: make([]ebtypes.PutEventsResultEntry, len(in.Entries))}
		out.Entries[0] = ebtypes.PutEventsResultEntry{ErrorCode: aws.String("ThrottlingException"), ErrorMessage: aws.String("slow down")}
		return out, nil
	}
	return &eventbridge.PutEventsOutput{Entries: make([]ebtypes.PutEventsResultEntry, len(in.Entries))}, nil
}

func TestEventBridgeRetries(t *testing.T) {
	tests := []struct {
		name     string
		failFor  int
		wantErr  bool
		wantCall int
	}{
		{"first try", 0, false, 1},
		{"partial failure retried", 1, false, 2},
		{"partial then transport failure", 3, false, 4},
		{"gives up after bound", 99, true, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			api := &flakyAPI{failFor: tc.failFor}
			err := bus.NewEventBridge(api, "b", nil).Publish(context.Background(), sampleEvents(3))
			if (err != nil) != tc.wantErr || api.calls != tc.wantCall {
				t.Fatalf("err=%v calls=%d, want err=%v calls=%d", err, api.calls, tc.wantErr, tc.wantCall)
			}
			if tc.failFor == 1 && fmt.Sprint(api.entries[1]) != "[e-00]" {
				t.Errorf("retried entries %v, want only the failed one", api.entries[1])
			}
		})
	}
}

func TestLocalBus(t *testing.T) {
	l := bus.NewLocal()
	var a, b []string
	unsubA := l.Subscribe(func(_ context.Context, e event.Event) { a = append(a, e.ID) })
	l.Subscribe(func(_ context.Context, e event.Event) { b = append(b, e.ID) })
	if err := l.Publish(context.Background(), sampleEvents(2)); err != nil {
		t.Fatal(err)
	}
	unsubA()
	if err := l.Publish(context.Background(), sampleEvents(1)); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(a) != "[e-00 e-01]" || fmt.Sprint(b) != "[e-00 e-01 e-00]" {
		t.Fatalf("a=%v b=%v", a, b)
	}
}
