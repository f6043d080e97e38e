package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/guregu/dynamo/v2"
)

// DynamoStore is the production SessionStore: one item per key in the
// sessions table (hash key "id", TTL attribute "expiresAt" in Unix
// seconds, as infra/ creates it). DynamoDB deletes expired items only
// eventually, so reads check the expiry themselves.
type DynamoStore struct {
	table dynamo.Table
	now   func() time.Time
}

// sessionItem is one item of the sessions table.
type sessionItem struct {
	ID        string `dynamo:"id,hash"`
	ExpiresAt int64  `dynamo:"expiresAt"`
	Data      []byte `dynamo:"data"`
}

// NewDynamoStore keeps sessions in the named table.
func NewDynamoStore(db *dynamo.DB, table string) *DynamoStore {
	return &DynamoStore{table: db.Table(table), now: time.Now}
}

// CreateDynamoTable creates a sessions table of the shape infra/ deploys
// (on demand, TTL on expiresAt) and waits until it is active. For tests
// and local tooling; production tables come from the CDK app.
func CreateDynamoTable(ctx context.Context, db *dynamo.DB, name string) error {
	if err := db.CreateTable(name, sessionItem{}).OnDemand(true).Wait(ctx); err != nil {
		return fmt.Errorf("auth: create table %s: %w", name, err)
	}
	if err := db.Table(name).UpdateTTL("expiresAt", true).Run(ctx); err != nil {
		return fmt.Errorf("auth: enable TTL on %s: %w", name, err)
	}
	return nil
}

// Get implements SessionStore (a strongly consistent read: a session
// just created or deleted by another Lambda must be seen as such).
func (s *DynamoStore) Get(ctx context.Context, key string) ([]byte, error) {
	var it sessionItem
	err := s.table.Get("id", key).Consistent(true).One(ctx, &it)
	if errors.Is(err, dynamo.ErrNotFound) {
		return nil, ErrSessionNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("auth: get session: %w", err)
	}
	if s.now().Unix() >= it.ExpiresAt {
		return nil, ErrSessionNotFound
	}
	return it.Data, nil
}

// Put implements SessionStore.
func (s *DynamoStore) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return errors.New("auth: a stored value needs a positive ttl")
	}
	// Round the expiry up to whole seconds: never earlier than asked.
	exp := s.now().Add(ttl + time.Second - 1).Unix()
	if err := s.table.Put(sessionItem{ID: key, ExpiresAt: exp, Data: value}).Run(ctx); err != nil {
		return fmt.Errorf("auth: put session: %w", err)
	}
	return nil
}

// Delete implements SessionStore.
func (s *DynamoStore) Delete(ctx context.Context, key string) error {
	if err := s.table.Delete("id", key).Run(ctx); err != nil {
		return fmt.Errorf("auth: delete session: %w", err)
	}
	return nil
}
