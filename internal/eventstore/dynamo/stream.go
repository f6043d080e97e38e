package dynamo

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/eventstore/internal/layout"
)

// image is the part of a stream record's NEW_IMAGE the decoder reads: the
// string and number attributes of a commit item, by name. Both record
// shapes (the DynamoDB Streams API's and Lambda's) reduce to it, so the Feed
// and the projector Lambda decode commits with the same code.
type image map[string]string

// commit decodes a commit item image. ok is false for items that are not
// commits (the snapshot).
func (im image) commit() (eventstore.Commit, bool, error) {
	sk := im["sk"]
	if sk == layout.SnapshotSK {
		return eventstore.Commit{}, false, nil
	}
	it := commitItem{PK: im["pk"], SK: sk, AggregateType: im["aggregateType"], Events: im["events"],
		CommittedAt: im["committedAt"]}
	if it.PK == "" || it.SK == "" {
		return eventstore.Commit{}, false, errors.New("stream image without pk/sk")
	}
	// firstVersion and lastVersion are redundant with sk and the events;
	// check them anyway, since an image that disagrees is not ours.
	if fv, ok := im["firstVersion"]; ok {
		if v, err := strconv.ParseInt(fv, 10, 64); err != nil || layout.SK(v) != sk {
			return eventstore.Commit{}, false, fmt.Errorf("commit %s/%s: firstVersion %q disagrees with sk", it.PK, sk, fv)
		}
	}
	c, err := it.commit()
	if err != nil {
		return eventstore.Commit{}, false, err
	}
	return c, true, nil
}

// CommitFromStreamRecord decodes one Lambda DynamoDB stream record of the
// events table. ok is false for records that carry no commit: removals,
// modifications (commits are never modified; the snapshot is) and the
// snapshot item. An INSERT without a NEW_IMAGE is an error: the stream view
// type must include new images.
func CommitFromStreamRecord(r events.DynamoDBEventRecord) (c eventstore.Commit, ok bool, err error) {
	if r.EventName != string(events.DynamoDBOperationTypeInsert) {
		return eventstore.Commit{}, false, nil
	}
	if len(r.Change.NewImage) == 0 {
		return eventstore.Commit{}, false, fmt.Errorf("stream record %s: INSERT without NEW_IMAGE", r.EventID)
	}
	im := make(image, len(r.Change.NewImage))
	for name, av := range r.Change.NewImage {
		switch av.DataType() {
		case events.DataTypeString:
			im[name] = av.String()
		case events.DataTypeNumber:
			im[name] = av.Number()
		}
	}
	c, ok, err = im.commit()
	if err != nil {
		return eventstore.Commit{}, false, fmt.Errorf("stream record %s: %w", r.EventID, err)
	}
	return c, ok, nil
}

// CommitsFromStreamRecords decodes the commits of a Lambda DynamoDB stream
// batch, in record order, skipping records without a commit (see
// CommitFromStreamRecord). Callers reporting partial batch failures map a
// commit back to its record with CommitFromStreamRecord.
func CommitsFromStreamRecords(records []events.DynamoDBEventRecord) ([]eventstore.Commit, error) {
	var out []eventstore.Commit
	for _, r := range records {
		c, ok, err := CommitFromStreamRecord(r)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// commitFromRecord is CommitFromStreamRecord for the DynamoDB Streams API.
func commitFromRecord(r streamtypes.Record) (eventstore.Commit, bool, error) {
	if r.EventName != streamtypes.OperationTypeInsert || r.Dynamodb == nil {
		return eventstore.Commit{}, false, nil
	}
	seq := ""
	if r.Dynamodb.SequenceNumber != nil {
		seq = *r.Dynamodb.SequenceNumber
	}
	if len(r.Dynamodb.NewImage) == 0 {
		return eventstore.Commit{}, false, fmt.Errorf("stream record %s: INSERT without NEW_IMAGE", seq)
	}
	im := make(image, len(r.Dynamodb.NewImage))
	for name, av := range r.Dynamodb.NewImage {
		switch v := av.(type) {
		case *streamtypes.AttributeValueMemberS:
			im[name] = v.Value
		case *streamtypes.AttributeValueMemberN:
			im[name] = v.Value
		}
	}
	c, ok, err := im.commit()
	if err != nil {
		return eventstore.Commit{}, false, fmt.Errorf("stream record %s: %w", seq, err)
	}
	return c, ok, nil
}
