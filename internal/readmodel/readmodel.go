// Package readmodel defines the query side: the rows the projector writes and
// the API reads (workers, labs, activity), and the Store contract that the
// DynamoDB and embedded adapters implement.
//
// Every row carries the version of the aggregate it was projected from, and
// a write only lands if it is newer than what is stored (the version guard),
// so replays, duplicates and out-of-order batches are no-ops.
package readmodel

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// ErrNotFound means no row has that key.
var ErrNotFound = errors.New("read model row not found")

// ErrBadCursor means a pagination cursor was not one this store issued.
var ErrBadCursor = errors.New("invalid cursor")

// Worker is one worker as the API shows it. Doc is the worker's JSON view;
// the other fields are copies of its keys, for indexes and filters.
type Worker struct {
	ID         string          `json:"id"`
	Version    int64           `json:"version"`
	Name       string          `json:"name"`
	Region     string          `json:"region"`
	Status     string          `json:"status"`
	InstanceID string          `json:"instanceId,omitempty"`
	Doc        json.RawMessage `json:"doc"`
}

// SortKey orders workers by name, then id, case-insensitively.
func (w Worker) SortKey() string { return strings.ToLower(w.Name) + "#" + w.ID }

// Lab is one lab record of a worker. Doc is the lab's JSON view.
type Lab struct {
	WorkerID string          `json:"workerId"`
	LabID    string          `json:"labId"`
	Version  int64           `json:"version"`
	Doc      json.RawMessage `json:"doc"`
}

// Activity is one domain event as the audit history shows it.
type Activity struct {
	AggregateID string          `json:"aggregateId"`
	Version     int64           `json:"version"`
	Type        string          `json:"type"`
	Time        time.Time       `json:"time"`
	Actor       string          `json:"actor"`
	Doc         json.RawMessage `json:"doc"`
}

// WorkerFilter narrows a worker listing. Empty fields match everything;
// Text matches name, id or instance id, case-insensitively.
type WorkerFilter struct {
	Region string
	Status string
	Text   string
}

// Match reports whether w passes the filter. Adapters that cannot express
// the whole filter in their query apply it with Match.
func (f WorkerFilter) Match(w Worker) bool {
	if f.Region != "" && w.Region != f.Region {
		return false
	}
	if f.Status != "" && w.Status != f.Status {
		return false
	}
	if f.Text != "" {
		t := strings.ToLower(f.Text)
		if !strings.Contains(strings.ToLower(w.Name), t) && !strings.Contains(strings.ToLower(w.ID), t) &&
			!strings.Contains(strings.ToLower(w.InstanceID), t) {
			return false
		}
	}
	return true
}

// Store is the read-model contract.
type Store interface {
	// PutWorker stores w unless a row at the same or a higher version exists.
	// It reports whether it wrote.
	PutWorker(ctx context.Context, w Worker) (bool, error)
	// DeleteWorker removes the worker if the stored row's version is below
	// version (a removal observed at that version). It leaves a tombstone at
	// that version, so a late write of an older view cannot resurrect it.
	DeleteWorker(ctx context.Context, id string, version int64) error
	GetWorker(ctx context.Context, id string) (Worker, error)
	// WorkerByInstance finds the worker that owns an EC2 instance id.
	WorkerByInstance(ctx context.Context, instanceID string) (Worker, error)
	// ListWorkers returns one page of workers ordered by name; next is empty
	// on the last page.
	ListWorkers(ctx context.Context, f WorkerFilter, cursor string, limit int) (page []Worker, next string, err error)

	// PutLab and DeleteLab follow the same version and tombstone rules.
	PutLab(ctx context.Context, l Lab) (bool, error)
	DeleteLab(ctx context.Context, workerID, labID string, version int64) error
	GetLab(ctx context.Context, workerID, labID string) (Lab, error)
	ListLabs(ctx context.Context, workerID string) ([]Lab, error)

	// PutActivity stores an event of the audit history (idempotent).
	PutActivity(ctx context.Context, a Activity) error
	// ListActivity pages an aggregate's history, newest first.
	ListActivity(ctx context.Context, aggregateID, cursor string, limit int) (page []Activity, next string, err error)
}
