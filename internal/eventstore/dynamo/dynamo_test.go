package dynamo_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	guregu "github.com/guregu/dynamo/v2"

	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/eventstore/dynamo"
	"github.com/cmlcm/cmlcm/internal/eventstore/storetest"
	"github.com/cmlcm/cmlcm/internal/motoserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.Stop()
	os.Exit(code)
}

var tableSeq atomic.Int64

// newStore creates a fresh, uniquely named events table on moto and returns
// a store on it and a feed reading its stream through the DynamoDB Streams
// API.
func newStore(tb testing.TB, feedOpts ...dynamo.FeedOption) (*dynamo.Store, *dynamo.Feed) {
	tb.Helper()
	cfg := motoserver.Config(tb)
	db := guregu.New(cfg)
	name := fmt.Sprintf("events-%d-%d-%s", os.Getpid(), tableSeq.Add(1), tableSafe(tb.Name()))
	name = name[:min(len(name), 255)]
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dynamo.CreateTables(ctx, db, name); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = db.Table(name).DeleteTable().Run(ctx)
	})
	s := dynamo.New(db, name)
	arn, err := s.StreamARN(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	opts := append([]dynamo.FeedOption{dynamo.WithPollInterval(50 * time.Millisecond),
		dynamo.WithFeedRetryBackoff(20*time.Millisecond, 200*time.Millisecond),
		dynamo.WithFeedLogger(slog.New(slog.DiscardHandler))}, feedOpts...)
	return s, dynamo.NewFeed(dynamodbstreams.NewFromConfig(cfg), arn, opts...)
}

// tableSafe maps a test name to DynamoDB's table name alphabet.
func tableSafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '-'
	}, s)
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (eventstore.Store, eventstore.Feed) {
		return newStore(t)
	})
}

func BenchmarkStore(b *testing.B) {
	storetest.Benchmark(b, func(b *testing.B) (eventstore.Store, eventstore.Feed) {
		// The production poll interval, so feed lag is what a deployment sees.
		return newStore(b, dynamo.WithPollInterval(250*time.Millisecond))
	})
}

func TestConcurrentWorker(t *testing.T) {
	s, f := newStore(t)
	storetest.ConcurrentWorker(t, s, f)
}
