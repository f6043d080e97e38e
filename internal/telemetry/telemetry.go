// Package telemetry is the store of worker metric samples (CPU, memory,
// disk, running nodes, labs) that charts read. Telemetry is not
// event-sourced: samples are written often, read as series, and expire
// (DynamoDB TTL in production, pruned on write in the embedded store).
//
// The automation writes samples with Put; the API reads them with Series
// (GET /api/workers/{id}/metrics) and Latest (the "metrics" of a worker's
// representation). Both adapters (bolt, dynamo) pass one contract suite
// (telemetrytest).
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DefaultRetention is how long a sample is kept when the caller does not
// say (the settings' telemetryRetentionDays default).
const DefaultRetention = 14 * 24 * time.Hour

// MaxSeries bounds the samples one Series call returns (a week at one
// sample a minute is 10,080).
const MaxSeries = 20000

// LatestKey is the range key of the per-worker "latest sample" item in the
// DynamoDB table. It sorts after every time key ('l' > '9'), so a range
// query between two times never returns it.
const LatestKey = "latest"

// ErrInvalid rejects a malformed sample or query.
var ErrInvalid = errors.New("invalid telemetry input")

// Sample is one reading of a worker. A nil field was not measured (memory
// needs the CloudWatch agent; CML figures need a reachable CML).
type Sample struct {
	WorkerID      string    `json:"workerId"`
	At            time.Time `json:"at"`
	CPUPercent    *float64  `json:"cpuPercent"`
	MemoryPercent *float64  `json:"memoryPercent"`
	DiskPercent   *float64  `json:"diskPercent"`
	RunningNodes  *int      `json:"runningNodes"`
	LabCount      *int      `json:"labCount"`
}

// Float returns a pointer to v, for building samples.
func Float(v float64) *float64 { return &v }

// Int returns a pointer to v, for building samples.
func Int(v int) *int { return &v }

// Validate reports what makes the sample unusable, wrapping ErrInvalid.
func (s Sample) Validate() error {
	switch {
	case s.WorkerID == "":
		return fmt.Errorf("%w: workerId is required", ErrInvalid)
	case s.At.IsZero():
		return fmt.Errorf("%w: at is required", ErrInvalid)
	}
	for name, p := range map[string]*float64{"cpuPercent": s.CPUPercent, "memoryPercent": s.MemoryPercent, "diskPercent": s.DiskPercent} {
		if p != nil && (*p < 0 || *p > 100 || *p != *p) {
			return fmt.Errorf("%w: %s must be between 0 and 100", ErrInvalid, name)
		}
	}
	for name, p := range map[string]*int{"runningNodes": s.RunningNodes, "labCount": s.LabCount} {
		if p != nil && *p < 0 {
			return fmt.Errorf("%w: %s must not be negative", ErrInvalid, name)
		}
	}
	return nil
}

// TimeKey is the sortable text of a sample time: RFC 3339 in UTC with a
// fixed nine-digit fraction. (time.RFC3339Nano trims trailing zeros, and
// its strings then do not sort in time order: "…05Z" > "…05.5Z".)
func TimeKey(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") }

// ParseTimeKey reads a TimeKey.
func ParseTimeKey(s string) (time.Time, error) { return time.Parse(time.RFC3339Nano, s) }

// ExpiresAt is when a sample taken at `at` expires under retention (the
// default when retention is not positive).
func ExpiresAt(at time.Time, retention time.Duration) time.Time {
	if retention <= 0 {
		retention = DefaultRetention
	}
	return at.Add(retention)
}

// CheckRange validates a Series query.
func CheckRange(workerID string, from, to time.Time) error {
	switch {
	case workerID == "":
		return fmt.Errorf("%w: workerId is required", ErrInvalid)
	case to.Before(from):
		return fmt.Errorf("%w: to is before from", ErrInvalid)
	}
	return nil
}

// Store is the contract both adapters implement.
type Store interface {
	// Put writes samples, keeping each for retention (DefaultRetention
	// when not positive). Writing the same worker and time again
	// overwrites. The latest sample of each worker is kept apart for
	// Latest; an older sample never replaces a newer latest one.
	Put(ctx context.Context, retention time.Duration, samples ...Sample) error
	// Series returns a worker's samples with from <= at <= to, oldest
	// first, at most MaxSeries (the oldest ones when there are more).
	// Expired samples may linger until pruned; callers bound from anyway.
	Series(ctx context.Context, workerID string, from, to time.Time) ([]Sample, error)
	// Latest returns the newest sample of each worker that has one.
	Latest(ctx context.Context, workerIDs []string) (map[string]Sample, error)
}
