package dynamo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	streamtypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/cmlcm/cmlcm/internal/eventstore"
)

// StreamsAPI is what the Feed needs of a DynamoDB Streams client
// (*dynamodbstreams.Client).
type StreamsAPI interface {
	DescribeStream(context.Context, *dynamodbstreams.DescribeStreamInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(context.Context, *dynamodbstreams.GetShardIteratorInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(context.Context, *dynamodbstreams.GetRecordsInput, ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

// Feed reads the events table's DynamoDB Stream and hands the commits to a
// handler. Production does not use it (a Lambda event source mapping feeds
// the projector, through CommitsFromStreamRecords); it serves tests,
// benchmarks and a long-running consumer outside Lambda.
//
// Delivery is at least once from an in-memory checkpoint per shard (the
// sequence number of the last record of the last batch the handler
// accepted): a handler error drops the shard iterator, and the next attempt
// re-reads from AFTER_SEQUENCE_NUMBER checkpoint, or TRIM_HORIZON when there
// is none. Checkpoints live as long as the Feed: a new Feed starts from the
// trim horizon (24 hours of records) and the handler's version guard makes
// the replay harmless.
//
// Order: a shard is read only after its parent is fully read (or has aged
// out of the stream), and one shard at a time, so commits of one aggregate
// (one partition key) arrive in commit order even across shard splits.
type Feed struct {
	streams    StreamsAPI
	arn        string
	poll       time.Duration
	describe   time.Duration
	limit      int32
	timeout    time.Duration
	minBackoff time.Duration
	maxBackoff time.Duration
	log        *slog.Logger

	running sync.Mutex
	shards  map[string]*shardState
}

type shardState struct {
	checkpoint string  // sequence number of the last accepted record
	iterator   *string // next iterator, nil to (re)acquire from checkpoint
	done       bool    // closed and fully read
}

var _ eventstore.Feed = (*Feed)(nil)

// FeedOption configures a Feed.
type FeedOption func(*Feed)

// WithPollInterval sets how long a caught-up feed waits before polling its
// shards again (default 250ms: a Lambda event source polls 4 times a second,
// and DynamoDB Streams allows 5 GetRecords per shard per second).
func WithPollInterval(d time.Duration) FeedOption {
	return func(f *Feed) {
		if d > 0 {
			f.poll = d
		}
	}
}

// WithFeedTimeout sets the deadline of each Streams API call (default
// DefaultTimeout).
func WithFeedTimeout(d time.Duration) FeedOption {
	return func(f *Feed) {
		if d > 0 {
			f.timeout = d
		}
	}
}

// WithBatchLimit sets the GetRecords limit, the most records per handler
// call (default 1000, the API's maximum).
func WithBatchLimit(n int) FeedOption {
	return func(f *Feed) {
		if n > 0 && n <= 1000 {
			f.limit = int32(n)
		}
	}
}

// WithFeedLogger sets the logger.
func WithFeedLogger(l *slog.Logger) FeedOption { return func(f *Feed) { f.log = l } }

// WithFeedRetryBackoff bounds the delay before retrying after a handler or
// API error (default 100ms doubling to 10s).
func WithFeedRetryBackoff(minDelay, maxDelay time.Duration) FeedOption {
	return func(f *Feed) {
		if minDelay > 0 && maxDelay >= minDelay {
			f.minBackoff, f.maxBackoff = minDelay, maxDelay
		}
	}
}

// NewFeed returns a feed of the stream streamARN (see Store.StreamARN).
func NewFeed(streams StreamsAPI, streamARN string, opts ...FeedOption) *Feed {
	f := &Feed{streams: streams, arn: streamARN, poll: 250 * time.Millisecond, describe: time.Minute,
		limit: 1000, timeout: DefaultTimeout, minBackoff: 100 * time.Millisecond, maxBackoff: 10 * time.Second,
		log: slog.Default(), shards: map[string]*shardState{}}
	for _, o := range opts {
		o(f)
	}
	return f
}

// ErrFeedBusy is returned by Run when the Feed is already running: its
// checkpoints belong to one reader.
var ErrFeedBusy = errors.New("feed already running")

// errDecode marks a record the feed cannot decode. Run returns it rather
// than skip a commit silently or retry it forever.
var errDecode = errors.New("undecodable stream record")

// Run implements eventstore.Feed. It returns ctx.Err() on cancellation, or
// an error wrapping a record it cannot decode. Handler and API errors are
// logged and retried with backoff.
func (f *Feed) Run(ctx context.Context, h eventstore.Handler) error {
	if !f.running.TryLock() {
		return ErrFeedBusy
	}
	defer f.running.Unlock()

	var (
		shards      []streamtypes.Shard
		describedAt time.Time
		backoff     time.Duration
	)
	for {
		if shards == nil || time.Since(describedAt) > f.describe {
			s, err := f.describeShards(ctx)
			if err != nil {
				if backoff, err = f.retry(ctx, backoff, "describe stream", err); err != nil {
					return err
				}
				continue
			}
			shards, describedAt = s, time.Now()
			f.prune(shards)
		}
		again := false
		var failed error
		for _, sh := range readyShards(shards, f.shards) {
			closed, err := f.drain(ctx, aws.ToString(sh.ShardId), h)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, errDecode) {
				return err
			}
			if err != nil {
				failed = err
				break
			}
			if closed {
				// Its children may be ready now: look for them at once.
				shards, again = nil, true
			}
		}
		if failed != nil {
			var err error
			if backoff, err = f.retry(ctx, backoff, "read stream", failed); err != nil {
				return err
			}
			continue
		}
		backoff = 0
		if !again {
			if err := sleep(ctx, f.poll); err != nil {
				return err
			}
		}
	}
}

// retry logs err and sleeps an exponentially growing delay.
func (f *Feed) retry(ctx context.Context, prev time.Duration, what string, err error) (time.Duration, error) {
	d := min(max(2*prev, f.minBackoff), f.maxBackoff)
	f.log.WarnContext(ctx, what+" failed; retrying", "stream", f.arn, "retry_in", d, "err", err)
	return d, sleep(ctx, d)
}

// drain delivers a shard's records while it has a backlog (full batches),
// and returns once a batch comes back short or the shard is closed. So a
// caught-up feed makes one GetRecords per shard per poll interval, as a
// Lambda event source does, whatever the write rate.
func (f *Feed) drain(ctx context.Context, shardID string, h eventstore.Handler) (closed bool, err error) {
	st := f.shards[shardID]
	if st == nil {
		st = &shardState{}
		f.shards[shardID] = st
	}
	for {
		if st.iterator == nil {
			if st.iterator, err = f.iterator(ctx, shardID, st.checkpoint); err != nil {
				return false, err
			}
		}
		out, err := f.getRecords(ctx, st.iterator)
		var expired *streamtypes.ExpiredIteratorException
		if errors.As(err, &expired) {
			st.iterator = nil // held across a long pause; get a fresh one
			continue
		}
		if err != nil {
			st.iterator = nil
			return false, fmt.Errorf("get records of %s: %w", shardID, err)
		}
		commits, err := decodeRecords(out.Records)
		if err != nil {
			return false, err
		}
		if len(commits) > 0 {
			if err := h(ctx, commits); err != nil {
				// Forget the iterator: the next attempt starts after the
				// checkpoint, so this batch is delivered again.
				st.iterator = nil
				return false, fmt.Errorf("handler: %w", err)
			}
		}
		if k := len(out.Records); k > 0 && out.Records[k-1].Dynamodb != nil {
			st.checkpoint = aws.ToString(out.Records[k-1].Dynamodb.SequenceNumber)
		}
		st.iterator = out.NextShardIterator
		if st.iterator == nil {
			st.done = true
			return true, nil
		}
		if len(out.Records) < int(f.limit) {
			return false, nil
		}
	}
}

func decodeRecords(records []streamtypes.Record) ([]eventstore.Commit, error) {
	var commits []eventstore.Commit
	for _, r := range records {
		c, ok, err := commitFromRecord(r)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errDecode, err)
		}
		if ok {
			commits = append(commits, c)
		}
	}
	return commits, nil
}

func (f *Feed) iterator(ctx context.Context, shardID, checkpoint string) (*string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: &f.arn, ShardId: &shardID,
		ShardIteratorType: streamtypes.ShardIteratorTypeTrimHorizon}
	if checkpoint != "" {
		in.ShardIteratorType = streamtypes.ShardIteratorTypeAfterSequenceNumber
		in.SequenceNumber = aws.String(checkpoint)
	}
	cctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	out, err := f.streams.GetShardIterator(cctx, in)
	var trimmed *streamtypes.TrimmedDataAccessException
	if errors.As(err, &trimmed) && checkpoint != "" {
		// The checkpoint aged out of the stream (the feed was stopped for
		// more than 24 hours): records were lost to this reader. Say so,
		// and carry on from the oldest record left.
		f.log.ErrorContext(ctx, "stream checkpoint trimmed; records skipped", "stream", f.arn, "shard", shardID,
			"checkpoint", checkpoint)
		return f.iterator(ctx, shardID, "")
	}
	if err != nil {
		return nil, fmt.Errorf("shard iterator of %s: %w", shardID, err)
	}
	return out.ShardIterator, nil
}

func (f *Feed) getRecords(ctx context.Context, iterator *string) (*dynamodbstreams.GetRecordsOutput, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	return f.streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iterator, Limit: &f.limit})
}

func (f *Feed) describeShards(ctx context.Context) ([]streamtypes.Shard, error) {
	var (
		shards []streamtypes.Shard
		start  *string
	)
	for {
		cctx, cancel := context.WithTimeout(ctx, f.timeout)
		out, err := f.streams.DescribeStream(cctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &f.arn,
			ExclusiveStartShardId: start})
		cancel()
		if err != nil {
			return nil, err
		}
		if out.StreamDescription == nil {
			return nil, errors.New("describe stream: no description")
		}
		shards = append(shards, out.StreamDescription.Shards...)
		start = out.StreamDescription.LastEvaluatedShardId
		if start == nil {
			return shards, nil
		}
	}
}

// prune forgets shards that aged out of the stream.
func (f *Feed) prune(shards []streamtypes.Shard) {
	live := make(map[string]bool, len(shards))
	for _, s := range shards {
		live[aws.ToString(s.ShardId)] = true
	}
	for id := range f.shards {
		if !live[id] {
			delete(f.shards, id)
		}
	}
}

// readyShards returns, in shard id order, the shards to read now: not yet
// fully read, and whose parent is fully read or gone from the stream. A
// child is held back until its parent is done, so records of one key are
// delivered in order across a shard split.
func readyShards(shards []streamtypes.Shard, state map[string]*shardState) []streamtypes.Shard {
	listed := make(map[string]bool, len(shards))
	for _, s := range shards {
		listed[aws.ToString(s.ShardId)] = true
	}
	var ready []streamtypes.Shard
	for _, s := range shards {
		if st := state[aws.ToString(s.ShardId)]; st != nil && st.done {
			continue
		}
		if p := aws.ToString(s.ParentShardId); p != "" && listed[p] {
			if st := state[p]; st == nil || !st.done {
				continue
			}
		}
		ready = append(ready, s)
	}
	slices.SortFunc(ready, func(a, b streamtypes.Shard) int {
		return strings.Compare(aws.ToString(a.ShardId), aws.ToString(b.ShardId))
	})
	return ready
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
