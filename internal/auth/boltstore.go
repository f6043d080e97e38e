package auth

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// DefaultBoltBucket is the bucket BoltStore uses when none is named.
const DefaultBoltBucket = "auth_sessions"

// sweepEvery: how often a Put also deletes expired entries.
const sweepEvery = 10 * time.Minute

// BoltStore is the local server's SessionStore: a bucket of the server's
// bbolt file. Each value is prefixed with its expiry (8 bytes, Unix
// nanoseconds, big-endian); expired values read as missing and are swept
// from time to time.
type BoltStore struct {
	db     *bbolt.DB
	bucket []byte
	now    func() time.Time

	mu        sync.Mutex
	lastSweep time.Time
}

// NewBoltStore keeps sessions in bucket (DefaultBoltBucket when empty) of
// db, creating it if needed. The caller owns db.
func NewBoltStore(db *bbolt.DB, bucket string) (*BoltStore, error) {
	if db == nil {
		return nil, errors.New("auth: bolt store needs a database")
	}
	if bucket == "" {
		bucket = DefaultBoltBucket
	}
	s := &BoltStore{db: db, bucket: []byte(bucket), now: time.Now}
	if err := db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(s.bucket)
		return err
	}); err != nil {
		return nil, fmt.Errorf("auth: create bucket %s: %w", bucket, err)
	}
	return s, nil
}

// Get implements SessionStore.
func (s *BoltStore) Get(_ context.Context, key string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(s.bucket).Get([]byte(key))
		if len(v) < 8 || s.expired(v) {
			return ErrSessionNotFound
		}
		out = append([]byte(nil), v[8:]...) // v is only valid inside the transaction
		return nil
	})
	return out, err
}

// Put implements SessionStore.
func (s *BoltStore) Put(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return errors.New("auth: a stored value needs a positive ttl")
	}
	v := make([]byte, 8+len(value))
	binary.BigEndian.PutUint64(v, uint64(s.now().Add(ttl).UnixNano()))
	copy(v[8:], value)
	sweep := s.sweepDue()
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(s.bucket)
		if sweep {
			if err := s.sweep(b); err != nil {
				return err
			}
		}
		return b.Put([]byte(key), v)
	})
}

// Delete implements SessionStore.
func (s *BoltStore) Delete(_ context.Context, key string) error {
	return s.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(s.bucket).Delete([]byte(key)) })
}

func (s *BoltStore) expired(v []byte) bool {
	return !s.now().Before(time.Unix(0, int64(binary.BigEndian.Uint64(v[:8]))))
}

func (s *BoltStore) sweepDue() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.now().Sub(s.lastSweep) < sweepEvery {
		return false
	}
	s.lastSweep = s.now()
	return true
}

// sweep deletes expired entries (logins never completed, sessions never
// signed out).
func (s *BoltStore) sweep(b *bbolt.Bucket) error {
	var dead [][]byte
	_ = b.ForEach(func(k, v []byte) error {
		if len(v) < 8 || s.expired(v) {
			dead = append(dead, append([]byte(nil), k...))
		}
		return nil
	})
	for _, k := range dead {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
