// Package bolt stores the read models in the embedded bbolt database, with
// the same keys, version guard and tombstones as the DynamoDB adapter.
package bolt

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"

	bbolt "go.etcd.io/bbolt"

	"github.com/cmlcm/cmlcm/internal/readmodel"
)

var (
	bucketWorkers    = []byte("rm_workers")     // id → row
	bucketByInstance = []byte("rm_by_instance") // instance id → worker id
	bucketLabs       = []byte("rm_labs")        // worker id "/" lab id → row
	bucketActivity   = []byte("rm_activity")    // aggregate id 0x00 version(8 bytes BE) → row
)

type workerRow struct {
	readmodel.Worker
	Deleted bool `json:"deleted,omitempty"`
}

type labRow struct {
	readmodel.Lab
	Deleted bool `json:"deleted,omitempty"`
}

// Store is the embedded read-model store.
type Store struct{ db *bbolt.DB }

var _ readmodel.Store = (*Store)(nil)

// New creates the buckets it needs in db (shared with the event store).
func New(db *bbolt.DB) (*Store, error) {
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketWorkers, bucketByInstance, bucketLabs, bucketActivity} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read model buckets: %w", err)
	}
	return &Store{db: db}, nil
}

func getJSON[T any](b *bbolt.Bucket, key []byte) (T, bool, error) {
	var v T
	raw := b.Get(key)
	if raw == nil {
		return v, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, false, fmt.Errorf("decode %q: %w", key, err)
	}
	return v, true, nil
}

func putJSON(b *bbolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// PutWorker implements readmodel.Store.
func (s *Store) PutWorker(_ context.Context, w readmodel.Worker) (bool, error) {
	wrote := false
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketWorkers)
		old, ok, err := getJSON[workerRow](b, []byte(w.ID))
		if err != nil {
			return err
		}
		if ok && old.Version >= w.Version {
			return nil
		}
		idx := tx.Bucket(bucketByInstance)
		if ok && !old.Deleted && old.InstanceID != "" && old.InstanceID != w.InstanceID {
			if err := idx.Delete([]byte(old.InstanceID)); err != nil {
				return err
			}
		}
		if w.InstanceID != "" {
			if err := idx.Put([]byte(w.InstanceID), []byte(w.ID)); err != nil {
				return err
			}
		}
		wrote = true
		return putJSON(b, []byte(w.ID), workerRow{Worker: w})
	})
	if err != nil {
		return false, fmt.Errorf("put worker %s: %w", w.ID, err)
	}
	return wrote, nil
}

// DeleteWorker implements readmodel.Store.
func (s *Store) DeleteWorker(_ context.Context, id string, version int64) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketWorkers)
		old, ok, err := getJSON[workerRow](b, []byte(id))
		if err != nil {
			return err
		}
		if ok && old.Version >= version {
			return nil
		}
		if ok && old.InstanceID != "" {
			idx := tx.Bucket(bucketByInstance)
			if string(idx.Get([]byte(old.InstanceID))) == id {
				if err := idx.Delete([]byte(old.InstanceID)); err != nil {
					return err
				}
			}
		}
		return putJSON(b, []byte(id), workerRow{Worker: readmodel.Worker{ID: id, Version: version}, Deleted: true})
	})
	if err != nil {
		return fmt.Errorf("delete worker %s: %w", id, err)
	}
	return nil
}

// GetWorker implements readmodel.Store.
func (s *Store) GetWorker(_ context.Context, id string) (readmodel.Worker, error) {
	var row workerRow
	var ok bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		row, ok, err = getJSON[workerRow](tx.Bucket(bucketWorkers), []byte(id))
		return err
	})
	if err != nil {
		return readmodel.Worker{}, fmt.Errorf("get worker %s: %w", id, err)
	}
	if !ok || row.Deleted {
		return readmodel.Worker{}, fmt.Errorf("worker %s: %w", id, readmodel.ErrNotFound)
	}
	return row.Worker, nil
}

// WorkerByInstance implements readmodel.Store.
func (s *Store) WorkerByInstance(ctx context.Context, instanceID string) (readmodel.Worker, error) {
	var id []byte
	_ = s.db.View(func(tx *bbolt.Tx) error {
		id = bytes.Clone(tx.Bucket(bucketByInstance).Get([]byte(instanceID)))
		return nil
	})
	if id == nil {
		return readmodel.Worker{}, fmt.Errorf("instance %s: %w", instanceID, readmodel.ErrNotFound)
	}
	return s.GetWorker(ctx, string(id))
}

// ListWorkers implements readmodel.Store. The embedded store holds a fleet
// (hundreds of rows), so it reads them all and sorts in memory; the cursor
// is the sort key of the last row returned.
func (s *Store) ListWorkers(_ context.Context, f readmodel.WorkerFilter, cursor string, limit int) ([]readmodel.Worker, string, error) {
	after, err := decodeCursor(cursor)
	if err != nil {
		return nil, "", err
	}
	var all []readmodel.Worker
	err = s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketWorkers).ForEach(func(_, v []byte) error {
			var row workerRow
			if err := json.Unmarshal(v, &row); err != nil {
				return err
			}
			if !row.Deleted && f.Match(row.Worker) && row.SortKey() > after {
				all = append(all, row.Worker)
			}
			return nil
		})
	})
	if err != nil {
		return nil, "", fmt.Errorf("list workers: %w", err)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].SortKey() < all[j].SortKey() })
	if limit <= 0 || len(all) <= limit {
		return all, "", nil
	}
	page := all[:limit]
	return page, encodeCursor(page[len(page)-1].SortKey()), nil
}

func labKey(workerID, labID string) []byte { return []byte(workerID + "/" + labID) }

// PutLab implements readmodel.Store.
func (s *Store) PutLab(_ context.Context, l readmodel.Lab) (bool, error) {
	wrote := false
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLabs)
		key := labKey(l.WorkerID, l.LabID)
		old, ok, err := getJSON[labRow](b, key)
		if err != nil {
			return err
		}
		if ok && old.Version >= l.Version {
			return nil
		}
		wrote = true
		return putJSON(b, key, labRow{Lab: l})
	})
	if err != nil {
		return false, fmt.Errorf("put lab %s/%s: %w", l.WorkerID, l.LabID, err)
	}
	return wrote, nil
}

// DeleteLab implements readmodel.Store.
func (s *Store) DeleteLab(_ context.Context, workerID, labID string, version int64) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketLabs)
		key := labKey(workerID, labID)
		old, ok, err := getJSON[labRow](b, key)
		if err != nil {
			return err
		}
		if ok && old.Version >= version {
			return nil
		}
		return putJSON(b, key, labRow{Lab: readmodel.Lab{WorkerID: workerID, LabID: labID, Version: version}, Deleted: true})
	})
	if err != nil {
		return fmt.Errorf("delete lab %s/%s: %w", workerID, labID, err)
	}
	return nil
}

// GetLab implements readmodel.Store.
func (s *Store) GetLab(_ context.Context, workerID, labID string) (readmodel.Lab, error) {
	var row labRow
	var ok bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		row, ok, err = getJSON[labRow](tx.Bucket(bucketLabs), labKey(workerID, labID))
		return err
	})
	if err != nil {
		return readmodel.Lab{}, fmt.Errorf("get lab %s/%s: %w", workerID, labID, err)
	}
	if !ok || row.Deleted {
		return readmodel.Lab{}, fmt.Errorf("lab %s/%s: %w", workerID, labID, readmodel.ErrNotFound)
	}
	return row.Lab, nil
}

// ListLabs implements readmodel.Store.
func (s *Store) ListLabs(_ context.Context, workerID string) ([]readmodel.Lab, error) {
	var out []readmodel.Lab
	prefix := []byte(workerID + "/")
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketLabs).Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			var row labRow
			if err := json.Unmarshal(v, &row); err != nil {
				return err
			}
			if !row.Deleted {
				out = append(out, row.Lab)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list labs of %s: %w", workerID, err)
	}
	return out, nil
}

func activityKey(aggregateID string, version int64) []byte {
	k := make([]byte, 0, len(aggregateID)+9)
	k = append(k, aggregateID...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, uint64(version))
}

// PutActivity implements readmodel.Store.
func (s *Store) PutActivity(_ context.Context, a readmodel.Activity) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		return putJSON(tx.Bucket(bucketActivity), activityKey(a.AggregateID, a.Version), a)
	})
	if err != nil {
		return fmt.Errorf("put activity %s v%d: %w", a.AggregateID, a.Version, err)
	}
	return nil
}

// ListActivity implements readmodel.Store: newest first; the cursor is the
// version of the last row returned.
func (s *Store) ListActivity(_ context.Context, aggregateID, cursor string, limit int) ([]readmodel.Activity, string, error) {
	before := int64(1<<63 - 1)
	if cursor != "" {
		c, err := decodeCursor(cursor)
		if err != nil {
			return nil, "", err
		}
		if _, err := fmt.Sscan(c, &before); err != nil {
			return nil, "", fmt.Errorf("%w: %v", readmodel.ErrBadCursor, err)
		}
	}
	if limit <= 0 {
		limit = 50
	}
	var out []readmodel.Activity
	more := false
	prefix := append([]byte(aggregateID), 0)
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketActivity).Cursor()
		// Seek lands on the cursor row (already returned) or past the
		// aggregate's last row; either way the next row back is the first.
		c.Seek(activityKey(aggregateID, before))
		k, v := c.Prev()
		for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
			if len(out) == limit {
				more = true
				return nil
			}
			var a readmodel.Activity
			if err := json.Unmarshal(v, &a); err != nil {
				return err
			}
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("list activity of %s: %w", aggregateID, err)
	}
	next := ""
	if more {
		next = encodeCursor(fmt.Sprint(out[len(out)-1].Version))
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
