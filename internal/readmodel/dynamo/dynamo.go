// Package dynamo stores the read models in DynamoDB through guregu/dynamo.
//
// Tables (names are configuration; the CDK app creates them in production):
//   - workers: hash key id; GSIs byName (fleet, sortKey), byStatus (status,
//     sortKey) and byInstance (instanceId). Tombstones carry none of the GSI
//     keys, so they drop out of every index.
//   - labs: hash key workerId, range key labId.
//   - activity: hash key aggregateId, range key version (number).
package dynamo

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/cmlcm/cmlcm/internal/readmodel"
)

// Index names on the workers table.
const (
	IndexByName     = "byName"
	IndexByStatus   = "byStatus"
	IndexByInstance = "byInstance"
	fleetKey        = "workers"
	callTimeout     = 10 * time.Second
)

// Tables names the read-model tables.
type Tables struct {
	Workers  string
	Labs     string
	Activity string
}

type workerItem struct {
	ID         string `dynamo:"id,hash"`
	Version    int64  `dynamo:"version"`
	Name       string `dynamo:"name,omitempty"`
	Region     string `dynamo:"region,omitempty"`
	Status     string `dynamo:"status,omitempty" index:"byStatus,hash"`
	InstanceID string `dynamo:"instanceId,omitempty" index:"byInstance,hash"`
	Fleet      string `dynamo:"fleet,omitempty" index:"byName,hash"`
	//lint:ignore SA5008 guregu/dynamo reads every index tag of a field: sortKey is the range key of two GSIs.
	SortKey string `dynamo:"sortKey,omitempty" index:"byName,range" index:"byStatus,range"`
	Doc     string `dynamo:"doc,omitempty"`
	Deleted bool   `dynamo:"deleted,omitempty"`
}

type labItem struct {
	WorkerID string `dynamo:"workerId,hash"`
	LabID    string `dynamo:"labId,range"`
	Version  int64  `dynamo:"version"`
	Doc      string `dynamo:"doc,omitempty"`
	Deleted  bool   `dynamo:"deleted,omitempty"`
}

type activityItem struct {
	AggregateID string    `dynamo:"aggregateId,hash"`
	Version     int64     `dynamo:"version,range"`
	Type        string    `dynamo:"type"`
	Time        time.Time `dynamo:"time"`
	Actor       string    `dynamo:"actor"`
	Doc         string    `dynamo:"doc"`
}

// Store is the DynamoDB read-model store.
type Store struct {
	workers, labs, activity dynamo.Table
}

var _ readmodel.Store = (*Store)(nil)

// New returns a Store on existing tables.
func New(db *dynamo.DB, t Tables) *Store {
	return &Store{workers: db.Table(t.Workers), labs: db.Table(t.Labs), activity: db.Table(t.Activity)}
}

// CreateTables creates the read-model tables on demand (tests and local use
// against a DynamoDB-compatible server) and waits until they are active.
func CreateTables(ctx context.Context, db *dynamo.DB, t Tables) error {
	steps := []*dynamo.CreateTable{
		db.CreateTable(t.Workers, workerItem{}).OnDemand(true).
			Project(IndexByName, dynamo.AllProjection).
			Project(IndexByStatus, dynamo.AllProjection).
			Project(IndexByInstance, dynamo.KeysOnlyProjection),
		db.CreateTable(t.Labs, labItem{}).OnDemand(true),
		db.CreateTable(t.Activity, activityItem{}).OnDemand(true),
	}
	for _, ct := range steps {
		if err := ct.Wait(ctx); err != nil {
			return fmt.Errorf("create read-model table: %w", err)
		}
	}
	return nil
}

func call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, callTimeout)
}

// newer is the version guard: write only over nothing or an older row.
const newer = "attribute_not_exists(version) OR version < ?"

func guarded(err error) (bool, error) {
	if err == nil {
		return true, nil
	}
	if dynamo.IsCondCheckFailed(err) {
		return false, nil
	}
	return false, err
}

// PutWorker implements readmodel.Store.
func (s *Store) PutWorker(ctx context.Context, w readmodel.Worker) (bool, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	item := workerItem{ID: w.ID, Version: w.Version, Name: w.Name, Region: w.Region, Status: w.Status,
		InstanceID: w.InstanceID, Fleet: fleetKey, SortKey: w.SortKey(), Doc: string(w.Doc)}
	ok, err := guarded(s.workers.Put(item).If(newer, w.Version).Run(ctx))
	if err != nil {
		return false, fmt.Errorf("put worker %s: %w", w.ID, err)
	}
	return ok, nil
}

// DeleteWorker implements readmodel.Store.
func (s *Store) DeleteWorker(ctx context.Context, id string, version int64) error {
	ctx, cancel := call(ctx)
	defer cancel()
	_, err := guarded(s.workers.Put(workerItem{ID: id, Version: version, Deleted: true}).If(newer, version).Run(ctx))
	if err != nil {
		return fmt.Errorf("delete worker %s: %w", id, err)
	}
	return nil
}

func (i workerItem) row() readmodel.Worker {
	return readmodel.Worker{ID: i.ID, Version: i.Version, Name: i.Name, Region: i.Region, Status: i.Status,
		InstanceID: i.InstanceID, Doc: []byte(i.Doc)}
}

// GetWorker implements readmodel.Store.
func (s *Store) GetWorker(ctx context.Context, id string) (readmodel.Worker, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	var item workerItem
	err := s.workers.Get("id", id).Consistent(true).One(ctx, &item)
	if errors.Is(err, dynamo.ErrNotFound) || (err == nil && item.Deleted) {
		return readmodel.Worker{}, fmt.Errorf("worker %s: %w", id, readmodel.ErrNotFound)
	}
	if err != nil {
		return readmodel.Worker{}, fmt.Errorf("get worker %s: %w", id, err)
	}
	return item.row(), nil
}

// WorkerByInstance implements readmodel.Store.
func (s *Store) WorkerByInstance(ctx context.Context, instanceID string) (readmodel.Worker, error) {
	qctx, cancel := call(ctx)
	defer cancel()
	var keys []workerItem
	if err := s.workers.Get("instanceId", instanceID).Index(IndexByInstance).All(qctx, &keys); err != nil {
		return readmodel.Worker{}, fmt.Errorf("find instance %s: %w", instanceID, err)
	}
	for _, k := range keys {
		w, err := s.GetWorker(ctx, k.ID)
		if err == nil && w.InstanceID == instanceID {
			return w, nil
		}
		if err != nil && !errors.Is(err, readmodel.ErrNotFound) {
			return readmodel.Worker{}, err
		}
	}
	return readmodel.Worker{}, fmt.Errorf("instance %s: %w", instanceID, readmodel.ErrNotFound)
}

// ListWorkers implements readmodel.Store: one Query on byStatus when a
// status is given, else on byName; region and text are filtered on the way.
// The cursor is the sort key of the last row returned.
func (s *Store) ListWorkers(ctx context.Context, f readmodel.WorkerFilter, cursor string, limit int) ([]readmodel.Worker, string, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	var q *dynamo.Query
	if f.Status != "" {
		q = s.workers.Get("status", f.Status).Index(IndexByStatus)
	} else {
		q = s.workers.Get("fleet", fleetKey).Index(IndexByName)
	}
	if after != "" {
		q = q.Range("sortKey", dynamo.Greater, after)
	}
	it := q.Iter()
	var out []readmodel.Worker
	var item workerItem
	for it.Next(ctx, &item) {
		w := item.row()
		item = workerItem{}
		if !f.Match(w) {
			continue
		}
		if limit > 0 && len(out) == limit {
			return out, encodeCursor(out[len(out)-1].SortKey()), nil
		}
		out = append(out, w)
	}
	if err := it.Err(); err != nil {
		return nil, "", fmt.Errorf("list workers: %w", err)
	}
	return out, "", nil
}

// PutLab implements readmodel.Store.
func (s *Store) PutLab(ctx context.Context, l readmodel.Lab) (bool, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	ok, err := guarded(s.labs.Put(labItem{WorkerID: l.WorkerID, LabID: l.LabID, Version: l.Version, Doc: string(l.Doc)}).
		If(newer, l.Version).Run(ctx))
	if err != nil {
		return false, fmt.Errorf("put lab %s/%s: %w", l.WorkerID, l.LabID, err)
	}
	return ok, nil
}

// DeleteLab implements readmodel.Store.
func (s *Store) DeleteLab(ctx context.Context, workerID, labID string, version int64) error {
	ctx, cancel := call(ctx)
	defer cancel()
	_, err := guarded(s.labs.Put(labItem{WorkerID: workerID, LabID: labID, Version: version, Deleted: true}).
		If(newer, version).Run(ctx))
	if err != nil {
		return fmt.Errorf("delete lab %s/%s: %w", workerID, labID, err)
	}
	return nil
}

// GetLab implements readmodel.Store.
func (s *Store) GetLab(ctx context.Context, workerID, labID string) (readmodel.Lab, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	var item labItem
	err := s.labs.Get("workerId", workerID).Range("labId", dynamo.Equal, labID).Consistent(true).One(ctx, &item)
	if errors.Is(err, dynamo.ErrNotFound) || (err == nil && item.Deleted) {
		return readmodel.Lab{}, fmt.Errorf("lab %s/%s: %w", workerID, labID, readmodel.ErrNotFound)
	}
	if err != nil {
		return readmodel.Lab{}, fmt.Errorf("get lab %s/%s: %w", workerID, labID, err)
	}
	return readmodel.Lab{WorkerID: item.WorkerID, LabID: item.LabID, Version: item.Version, Doc: []byte(item.Doc)}, nil
}

// ListLabs implements readmodel.Store.
func (s *Store) ListLabs(ctx context.Context, workerID string) ([]readmodel.Lab, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	var items []labItem
	if err := s.labs.Get("workerId", workerID).Consistent(true).All(ctx, &items); err != nil {
		return nil, fmt.Errorf("list labs of %s: %w", workerID, err)
	}
	out := make([]readmodel.Lab, 0, len(items))
	for _, i := range items {
		if !i.Deleted {
			out = append(out, readmodel.Lab{WorkerID: i.WorkerID, LabID: i.LabID, Version: i.Version, Doc: []byte(i.Doc)})
		}
	}
	return out, nil
}

// PutActivity implements readmodel.Store.
func (s *Store) PutActivity(ctx context.Context, a readmodel.Activity) error {
	ctx, cancel := call(ctx)
	defer cancel()
	item := activityItem{AggregateID: a.AggregateID, Version: a.Version, Type: a.Type, Time: a.Time.UTC(),
		Actor: a.Actor, Doc: string(a.Doc)}
	if err := s.activity.Put(item).Run(ctx); err != nil {
		return fmt.Errorf("put activity %s v%d: %w", a.AggregateID, a.Version, err)
	}
	return nil
}

// ListActivity implements readmodel.Store: newest first; the cursor is the
// version of the last row returned.
func (s *Store) ListActivity(ctx context.Context, aggregateID, cursor string, limit int) ([]readmodel.Activity, string, error) {
	ctx, cancel := call(ctx)
	defer cancel()
	if limit <= 0 {
		limit = 50
	}
	q := s.activity.Get("aggregateId", aggregateID).Order(dynamo.Descending).Limit(limit + 1)
	if cursor != "" {
		c, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		before, err := strconv.ParseInt(c, 10, 64)
		if err != nil {
			return nil, "", fmt.Errorf("%w: %v", readmodel.ErrBadCursor, err)
		}
		q = q.Range("version", dynamo.Less, before)
	}
	var items []activityItem
	if err := q.All(ctx, &items); err != nil {
		return nil, "", fmt.Errorf("list activity of %s: %w", aggregateID, err)
	}
	next := ""
	if len(items) > limit {
		items = items[:limit]
		next = encodeCursor(strconv.FormatInt(items[limit-1].Version, 10))
	}
	out := make([]readmodel.Activity, len(items))
	for i, it := range items {
		out[i] = readmodel.Activity{AggregateID: it.AggregateID, Version: it.Version, Type: it.Type,
			Time: it.Time, Actor: it.Actor, Doc: []byte(it.Doc)}
	}
	return out, next, nil
}

func encodeCursor(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func decodeCursor(c string) (string, error) {
	if c == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", fmt.Errorf("%w: %v", readmodel.ErrBadCursor, err)
	}
	return string(b), nil
}
