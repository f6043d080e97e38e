// Package bolt keeps telemetry samples in the embedded bbolt database: a
// sub-bucket per worker keyed by telemetry.TimeKey (so a range is a cursor
// seek), and a bucket of each worker's latest sample. Expired samples are
// pruned from the front of a worker's bucket whenever it is written.
package bolt

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/cmlcm/cmlcm/internal/telemetry"
)

var (
	bucketSeries = []byte("telemetry")        // worker id → (time key → row)
	bucketLatest = []byte("telemetry_latest") // worker id → row
)

type row struct {
	telemetry.Sample
	ExpiresAt time.Time `json:"expiresAt"`
}

// Store is the embedded telemetry store.
type Store struct {
	db  *bbolt.DB
	now func() time.Time
}

var _ telemetry.Store = (*Store)(nil)

// New creates the buckets it needs in db (shared with the event store).
func New(db *bbolt.DB) (*Store, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketSeries, bucketLatest} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry buckets: %w", err)
	}
	return &Store{db: db, now: time.Now}, nil
}

// Put implements telemetry.Store.
func (s *Store) Put(ctx context.Context, retention time.Duration, samples ...telemetry.Sample) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, smp := range samples {
		if err := smp.Validate(); err != nil {
			return err
		}
	}
	now := s.now()
	return s.db.Update(func(tx *bbolt.Tx) error {
		series, latest := tx.Bucket(bucketSeries), tx.Bucket(bucketLatest)
		touched := map[string]*bbolt.Bucket{}
		for _, smp := range samples {
			smp.At = smp.At.UTC()
			r := row{Sample: smp, ExpiresAt: telemetry.ExpiresAt(smp.At, retention)}
			raw, err := json.Marshal(r)
			if err != nil {
				return err
			}
			wb, err := series.CreateBucketIfNotExists([]byte(smp.WorkerID))
			if err != nil {
				return err
			}
			touched[smp.WorkerID] = wb
			if err := wb.Put([]byte(telemetry.TimeKey(smp.At)), raw); err != nil {
				return err
			}
			if cur := latest.Get([]byte(smp.WorkerID)); cur != nil {
				var old row
				if json.Unmarshal(cur, &old) == nil && old.At.After(smp.At) {
					continue
				}
			}
			if err := latest.Put([]byte(smp.WorkerID), raw); err != nil {
				return err
			}
		}
		for _, wb := range touched {
			if err := prune(wb, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// prune deletes expired rows from the front of a worker's bucket; it stops
// at the first live one (retention is near constant, so rows expire
// roughly in time order, and a straggler is dropped on a later write).
func prune(b *bbolt.Bucket, now time.Time) error {
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		var r row
		if err := json.Unmarshal(v, &r); err != nil || !r.ExpiresAt.Before(now) {
			return nil
		}
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// Series implements telemetry.Store.
func (s *Store) Series(ctx context.Context, workerID string, from, to time.Time) ([]telemetry.Sample, error) {
	if err := telemetry.CheckRange(workerID, from, to); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := []telemetry.Sample{}
	lo, hi := []byte(telemetry.TimeKey(from)), []byte(telemetry.TimeKey(to))
	now := s.now()
	err := s.db.View(func(tx *bbolt.Tx) error {
		wb := tx.Bucket(bucketSeries).Bucket([]byte(workerID))
		if wb == nil {
			return nil
		}
		c := wb.Cursor()
		for k, v := c.Seek(lo); k != nil && bytes.Compare(k, hi) <= 0 && len(out) < telemetry.MaxSeries; k, v = c.Next() {
			var r row
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode sample %s/%s: %w", workerID, k, err)
			}
			if r.ExpiresAt.Before(now) {
				continue
			}
			out = append(out, r.Sample)
		}
		return nil
	})
	return out, err
}

// Latest implements telemetry.Store.
func (s *Store) Latest(ctx context.Context, workerIDs []string) (map[string]telemetry.Sample, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]telemetry.Sample, len(workerIDs))
	now := s.now()
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLatest)
		for _, id := range workerIDs {
			raw := b.Get([]byte(id))
			if raw == nil {
				continue
			}
			var r row
			if err := json.Unmarshal(raw, &r); err != nil {
				return fmt.Errorf("decode latest sample of %s: %w", id, err)
			}
			if !r.ExpiresAt.Before(now) {
				out[id] = r.Sample
			}
		}
		return nil
	})
	return out, err
}
