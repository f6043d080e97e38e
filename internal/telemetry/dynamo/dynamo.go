// Package dynamo keeps telemetry samples in a DynamoDB table through
// guregu/dynamo.
//
// Table (the name is configuration; the CDK app creates it): hash key
// workerId (S), range key at (S, telemetry.TimeKey: RFC 3339 UTC with a
// fixed nine-digit fraction, so strings sort in time order), TTL attribute
// expiresAt (N, Unix seconds). Each worker also has one item with range key
// telemetry.LatestKey holding its newest sample (written with a condition
// so an older sample never replaces it); it sorts after every time, so
// range queries never see it, and Latest for a page of workers is one
// BatchGetItem per 100.
package dynamo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/cmlcm/cmlcm/internal/telemetry"
)

const callTimeout = 10 * time.Second

type item struct {
	WorkerID      string   `dynamo:"workerId,hash"`
	At            string   `dynamo:"at,range"`
	SampleAt      string   `dynamo:"sampleAt"`
	ExpiresAt     int64    `dynamo:"expiresAt"`
	CPUPercent    *float64 `dynamo:"cpuPercent,omitempty"`
	MemoryPercent *float64 `dynamo:"memoryPercent,omitempty"`
	DiskPercent   *float64 `dynamo:"diskPercent,omitempty"`
	RunningNodes  *int     `dynamo:"runningNodes,omitempty"`
	LabCount      *int     `dynamo:"labCount,omitempty"`
}

func toItem(s telemetry.Sample, retention time.Duration) item {
	key := telemetry.TimeKey(s.At)
	return item{WorkerID: s.WorkerID, At: key, SampleAt: key, ExpiresAt: telemetry.ExpiresAt(s.At, retention).Unix(),
		CPUPercent: s.CPUPercent, MemoryPercent: s.MemoryPercent, DiskPercent: s.DiskPercent,
		RunningNodes: s.RunningNodes, LabCount: s.LabCount}
}

func (it item) sample() (telemetry.Sample, error) {
	at, err := telemetry.ParseTimeKey(it.SampleAt)
	if err != nil {
		return telemetry.Sample{}, fmt.Errorf("telemetry item %s/%s: %w", it.WorkerID, it.At, err)
	}
	return telemetry.Sample{WorkerID: it.WorkerID, At: at, CPUPercent: it.CPUPercent, MemoryPercent: it.MemoryPercent,
		DiskPercent: it.DiskPercent, RunningNodes: it.RunningNodes, LabCount: it.LabCount}, nil
}

// Store is the DynamoDB telemetry store.
type Store struct {
	table dynamo.Table
	now   func() time.Time
}

var _ telemetry.Store = (*Store)(nil)

// New returns a Store on an existing table.
func New(db *dynamo.DB, table string) *Store {
	return &Store{table: db.Table(table), now: time.Now}
}

// CreateTable creates the table with its TTL on demand (tests and local use
// against a DynamoDB-compatible server) and waits until it is active.
func CreateTable(ctx context.Context, db *dynamo.DB, table string) error {
	if err := db.CreateTable(table, item{}).OnDemand(true).Wait(ctx); err != nil {
		return fmt.Errorf("create telemetry table: %w", err)
	}
	if err := db.Table(table).UpdateTTL("expiresAt", true).Run(ctx); err != nil {
		return fmt.Errorf("enable telemetry TTL: %w", err)
	}
	return nil
}

// Put implements telemetry.Store: the series items in batches of 25, then
// one conditional put of the newest sample per worker.
func (s *Store) Put(ctx context.Context, retention time.Duration, samples ...telemetry.Sample) error {
	newest := map[string]telemetry.Sample{}
	items := make([]any, 0, len(samples))
	for _, smp := range samples {
		if err := smp.Validate(); err != nil {
			return err
		}
		smp.At = smp.At.UTC()
		items = append(items, toItem(smp, retention))
		if cur, ok := newest[smp.WorkerID]; !ok || smp.At.After(cur.At) {
			newest[smp.WorkerID] = smp
		}
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	for len(items) > 0 {
		n := min(len(items), 25)
		if _, err := s.table.Batch("workerId", "at").Write().Put(items[:n]...).Run(ctx); err != nil {
			return fmt.Errorf("put telemetry: %w", err)
		}
		items = items[n:]
	}
	for _, smp := range newest {
		it := toItem(smp, retention)
		it.At = telemetry.LatestKey
		err := s.table.Put(it).If("attribute_not_exists(sampleAt) OR sampleAt <= ?", it.SampleAt).Run(ctx)
		if err != nil && !dynamo.IsCondCheckFailed(err) {
			return fmt.Errorf("put latest telemetry of %s: %w", smp.WorkerID, err)
		}
	}
	return nil
}

// Series implements telemetry.Store. Items past their TTL that DynamoDB
// has not deleted yet (it can take a while) are filtered out.
func (s *Store) Series(ctx context.Context, workerID string, from, to time.Time) ([]telemetry.Sample, error) {
	if err := telemetry.CheckRange(workerID, from, to); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var items []item
	err := s.table.Get("workerId", workerID).
		Range("at", dynamo.Between, telemetry.TimeKey(from), telemetry.TimeKey(to)).
		Filter("expiresAt >= ?", s.now().Unix()).
		Limit(telemetry.MaxSeries).All(ctx, &items)
	if err != nil {
		return nil, fmt.Errorf("telemetry series of %s: %w", workerID, err)
	}
	out := make([]telemetry.Sample, 0, len(items))
	for _, it := range items {
		smp, err := it.sample()
		if err != nil {
			return nil, err
		}
		out = append(out, smp)
	}
	return out, nil
}

// Latest implements telemetry.Store.
func (s *Store) Latest(ctx context.Context, workerIDs []string) (map[string]telemetry.Sample, error) {
	out := make(map[string]telemetry.Sample, len(workerIDs))
	seen := map[string]bool{}
	var keys []dynamo.Keyed
	for _, id := range workerIDs {
		if id != "" && !seen[id] {
			seen[id] = true
			keys = append(keys, dynamo.Keys{id, telemetry.LatestKey})
		}
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	now := s.now().Unix()
	for len(keys) > 0 {
		n := min(len(keys), 100)
		var items []item
		err := s.table.Batch("workerId", "at").Get(keys[:n]...).All(ctx, &items)
		if err != nil && !errors.Is(err, dynamo.ErrNotFound) {
			return nil, fmt.Errorf("latest telemetry: %w", err)
		}
		for _, it := range items {
			if it.ExpiresAt < now {
				continue
			}
			smp, err := it.sample()
			if err != nil {
				return nil, err
			}
			out[it.WorkerID] = smp
		}
		keys = keys[n:]
	}
	return out, nil
}
