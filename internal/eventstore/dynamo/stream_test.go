package dynamo_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/eventstore/dynamo"
	"github.com/cmlcm/cmlcm/internal/eventstore/storetest"
	"github.com/cmlcm/cmlcm/internal/motoserver"
)

// lambdaRecord builds the JSON of one Lambda DynamoDB stream record.
func lambdaRecord(name, pk, sk string, image map[string]map[string]string) string {
	rec := map[string]any{
		"eventID": "id-" + sk, "eventName": name, "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
		"dynamodb": map[string]any{
			"Keys":           map[string]any{"pk": map[string]string{"S": pk}, "sk": map[string]string{"S": sk}},
			"NewImage":       image,
			"SequenceNumber": "1" + sk, "StreamViewType": "NEW_IMAGE",
		},
	}
	if image == nil {
		delete(rec["dynamodb"].(map[string]any), "NewImage")
	}
	b, _ := json.Marshal(rec)
	return string(b)
}

func TestCommitsFromStreamRecords(t *testing.T) {
	evs := storetest.Events("w-1", 2, 2)
	payload, _ := json.Marshal(evs)
	commit := map[string]map[string]string{
		"pk": {"S": "w-1"}, "sk": {"S": "00000000000000000003"}, "aggregateType": {"S": storetest.CounterType},
		"firstVersion": {"N": "3"}, "lastVersion": {"N": "4"}, "events": {"S": string(payload)},
		"committedAt": {"S": "2026-01-02T03:04:05.123456789Z"},
	}
	snapshot := map[string]map[string]string{
		"pk": {"S": "w-1"}, "sk": {"S": "snapshot"}, "version": {"N": "4"}, "schema": {"N": "1"}, "state": {"S": "{}"},
	}
	with := func(k, typ, v string) map[string]map[string]string {
		m := map[string]map[string]string{}
		for a, av := range commit {
			m[a] = av
		}
		m[k] = map[string]string{typ: v}
		return m
	}
	tests := []struct {
		name    string
		records []string
		want    int // commits decoded
		wantErr string
	}{
		{"commit", []string{lambdaRecord("INSERT", "w-1", "00000000000000000003", commit)}, 1, ""},
		{"snapshot insert and modify skipped", []string{
			lambdaRecord("INSERT", "w-1", "snapshot", snapshot),
			lambdaRecord("MODIFY", "w-1", "snapshot", snapshot),
			lambdaRecord("INSERT", "w-1", "00000000000000000003", commit),
		}, 1, ""},
		{"removal skipped", []string{lambdaRecord("REMOVE", "w-1", "00000000000000000003", nil)}, 0, ""},
		{"insert without image", []string{lambdaRecord("INSERT", "w-1", "00000000000000000003", nil)}, 0, "without NEW_IMAGE"},
		{"events not JSON", []string{lambdaRecord("INSERT", "w-1", "00000000000000000003", with("events", "S", "{"))}, 0, "decode events"},
		{"events of another aggregate", []string{lambdaRecord("INSERT", "w-2", "00000000000000000003", with("pk", "S", "w-2"))}, 0, "event 0 is w-1"},
		{"sk disagrees with events", []string{lambdaRecord("INSERT", "w-1", "00000000000000000002", with("sk", "S", "00000000000000000002"))}, 0, "disagrees"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var batch events.DynamoDBEvent
			if err := json.Unmarshal([]byte(`{"Records":[`+strings.Join(tc.records, ",")+`]}`), &batch); err != nil {
				t.Fatal(err)
			}
			commits, err := dynamo.CommitsFromStreamRecords(batch.Records)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(commits) != tc.want {
				t.Fatalf("%d commits, want %d", len(commits), tc.want)
			}
			for _, c := range commits {
				got, _ := json.Marshal(c.Events)
				if string(got) != string(payload) || c.AggregateID != "w-1" || c.AggregateType != storetest.CounterType ||
					!c.CommittedAt.Equal(time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)) {
					t.Fatalf("decoded %+v", c)
				}
			}
		})
	}
}

// TestStreamRecordsAsLambdaSeesThem decodes records read from the real
// stream (moto) after converting them to the Lambda event type, so the
// attribute names and types the projector Lambda relies on are the ones
// the store writes.
func TestStreamRecordsAsLambdaSeesThem(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	want := [][]byte{}
	v := int64(0)
	for _, n := range []int{1, 3, 2} {
		evs := storetest.Events("agg", v, n)
		if err := s.Append(ctx, v, evs); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(evs)
		want = append(want, b)
		v += int64(n)
	}
	if err := s.SaveSnapshot(ctx, eventstore.Snapshot{AggregateID: "agg", Version: 6, Schema: 1, State: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}

	arn, err := s.StreamARN(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client := dynamodbstreams.NewFromConfig(motoserver.Config(t))
	desc, err := client.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &arn})
	if err != nil {
		t.Fatal(err)
	}
	it, err := client.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: &arn,
		ShardId: desc.StreamDescription.Shards[0].ShardId, ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	out, err := client.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 4 {
		t.Fatalf("%d stream records, want 3 commits and a snapshot", len(out.Records))
	}
	var records []events.DynamoDBEventRecord
	for _, r := range out.Records {
		image := map[string]events.DynamoDBAttributeValue{}
		for name, av := range r.Dynamodb.NewImage {
			switch av := av.(type) {
			case *streamtypes.AttributeValueMemberS:
				image[name] = events.NewStringAttribute(av.Value)
			case *streamtypes.AttributeValueMemberN:
				image[name] = events.NewNumberAttribute(av.Value)
			default:
				t.Fatalf("attribute %s is %T: the decoder reads only S and N", name, av)
			}
		}
		records = append(records, events.DynamoDBEventRecord{EventName: string(r.EventName),
			EventID: aws.ToString(r.EventID), Change: events.DynamoDBStreamRecord{NewImage: image,
				SequenceNumber: aws.ToString(r.Dynamodb.SequenceNumber)}})
	}
	commits, err := dynamo.CommitsFromStreamRecords(records)
	if err != nil {
		t.Fatal(err)
	}
	if len(commits) != len(want) {
		t.Fatalf("%d commits, want %d", len(commits), len(want))
	}
	for i, c := range commits {
		if got, _ := json.Marshal(c.Events); string(got) != string(want[i]) {
			t.Fatalf("commit %d:\n got %s\nwant %s", i, got, want[i])
		}
		if c.CommittedAt.IsZero() {
			t.Fatalf("commit %d has no CommittedAt", i)
		}
	}
}
