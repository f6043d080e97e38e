package auth

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/guregu/dynamo/v2"
	bbolt "go.etcd.io/bbolt"

	"github.com/cmlcm/cmlcm/internal/motoserver"
)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newBoltDB(t testing.TB) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "test.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestSessionStores runs one contract against both implementations: the
// embedded bbolt store and DynamoDB (a moto server).
func TestSessionStores(t *testing.T) {
	stores := map[string]func(t *testing.T, c *clock) SessionStore{
		"bolt": func(t *testing.T, c *clock) SessionStore {
			s, err := NewBoltStore(newBoltDB(t), "")
			if err != nil {
				t.Fatal(err)
			}
			s.now = c.now
			return s
		},
		"dynamo": func(t *testing.T, c *clock) SessionStore {
			db := dynamo.New(motoserver.Config(t))
			name := fmt.Sprintf("sessions-%d", time.Now().UnixNano())
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := CreateDynamoTable(ctx, db, name); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Table(name).DeleteTable().Run(context.Background()) })
			s := NewDynamoStore(db, name)
			s.now = c.now
			return s
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c := &clock{t: time.Now()}
			s := mk(t, c)
			if _, err := s.Get(ctx, "missing"); !errors.Is(err, ErrSessionNotFound) {
				t.Fatalf("missing key: %v", err)
			}
			if err := s.Put(ctx, "k", []byte(`{"a":1}`), time.Hour); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, "k")
			if err != nil || string(got) != `{"a":1}` {
				t.Fatalf("get = %q, %v", got, err)
			}
			if err := s.Put(ctx, "k", []byte(`{"a":2}`), time.Hour); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Get(ctx, "k"); string(got) != `{"a":2}` {
				t.Fatalf("replaced value = %q", got)
			}
			if err := s.Put(ctx, "k", []byte("x"), 0); err == nil {
				t.Error("a zero ttl was accepted")
			}
			// Expiry: the value reads as missing once its ttl has passed,
			// whether or not the backend has deleted it yet.
			if err := s.Put(ctx, "short", []byte("v"), 90*time.Second); err != nil {
				t.Fatal(err)
			}
			c.t = c.t.Add(89 * time.Second)
			if _, err := s.Get(ctx, "short"); err != nil {
				t.Fatalf("before expiry: %v", err)
			}
			c.t = c.t.Add(2 * time.Second)
			if _, err := s.Get(ctx, "short"); !errors.Is(err, ErrSessionNotFound) {
				t.Fatalf("after expiry: %v", err)
			}
			if err := s.Delete(ctx, "k"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrSessionNotFound) {
				t.Fatalf("after delete: %v", err)
			}
			if err := s.Delete(ctx, "k"); err != nil {
				t.Fatalf("deleting a missing key: %v", err)
			}
		})
	}
}

func TestBoltStoreSweepsExpired(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Now()}
	db := newBoltDB(t)
	s, err := NewBoltStore(db, "sessions")
	if err != nil {
		t.Fatal(err)
	}
	s.now = c.now
	for i := range 5 {
		if err := s.Put(ctx, fmt.Sprint("old", i), []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	c.t = c.t.Add(sweepEvery + time.Minute)
	if err := s.Put(ctx, "new", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	n := 0
	_ = db.View(func(tx *bbolt.Tx) error { n = tx.Bucket([]byte("sessions")).Stats().KeyN; return nil })
	if n != 1 {
		t.Fatalf("%d keys after the sweep, want 1", n)
	}
}
