package projector

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cmlcm/cmlcm/internal/eventstore"
)

// StreamDecoder turns one DynamoDB Stream record of the events table into
// the commit it holds; ok is false for records that hold none (snapshot
// items, removals).
type StreamDecoder func(events.DynamoDBEventRecord) (c eventstore.Commit, ok bool, err error)

// HandleStream projects a DynamoDB Stream batch and reports partial batch
// failures: the earliest record whose aggregate failed (or that could not
// be decoded). Lambda then retries the batch from that record, so commits
// after it are delivered again, which the version guard makes harmless.
func (p *Projector) HandleStream(ctx context.Context, batch events.DynamoDBEvent, decode StreamDecoder) (events.DynamoDBEventResponse, error) {
	var commits []eventstore.Commit
	firstRecord := map[string]int{} // aggregate id → index of its first record
	firstBad := -1
	for i, rec := range batch.Records {
		c, ok, err := decode(rec)
		if err != nil {
			p.log.ErrorContext(ctx, "undecodable stream record", "eventID", rec.EventID, "err", err)
			firstBad = i
			break // later records may depend on this one: stop here
		}
		if !ok {
			continue
		}
		if _, seen := firstRecord[c.AggregateID]; !seen {
			firstRecord[c.AggregateID] = i
		}
		commits = append(commits, c)
	}
	err := p.Handle(ctx, commits)
	for _, e := range unwrapJoined(err) {
		var ae *AggregateError
		if errors.As(e, &ae) {
			p.log.ErrorContext(ctx, "projection failed", "aggregate", ae.AggregateID, "err", ae.Err)
			if i := firstRecord[ae.AggregateID]; firstBad < 0 || i < firstBad {
				firstBad = i
			}
		}
	}
	var resp events.DynamoDBEventResponse
	if firstBad >= 0 {
		resp.BatchItemFailures = []events.DynamoDBBatchItemFailure{
			{ItemIdentifier: batch.Records[firstBad].Change.SequenceNumber},
		}
	}
	return resp, nil
}

func unwrapJoined(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
