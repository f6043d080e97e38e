package event

import (
	"context"
	"errors"
	"testing"
	"time"
)

type bumped struct {
	By int `json:"by"`
}

func (*bumped) EventType() string { return "test.counter.bumped.v1" }

type counter struct {
	Root
	n int
}

func (c *counter) apply(_ Event, p Payload) { c.n += p.(*bumped).By }

func TestRecordAndReplay(t *testing.T) {
	reg := Registry{}
	reg.Register(func() Payload { return &bumped{} })
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	src := &counter{}
	src.Init("counter", "c1")
	src.Begin(Meta{Actor: "alice", CorrelationID: "req-1", Time: at})
	for _, by := range []int{2, 3} {
		if err := src.Record(&bumped{By: by}, src.apply); err != nil {
			t.Fatal(err)
		}
	}
	pending := src.Pending()
	if src.n != 5 || src.Version() != 2 || len(pending) != 2 {
		t.Fatalf("after record: n=%d v=%d pending=%d", src.n, src.Version(), len(pending))
	}
	e := pending[1]
	if e.Version != 2 || e.Actor != "alice" || e.CorrelationID != "req-1" || !e.Time.Equal(at) ||
		e.Type != "test.counter.bumped.v1" || e.AggregateType != "counter" || e.AggregateID != "c1" ||
		e.SchemaVersion != SchemaVersion || e.ID == "" || e.ID == pending[0].ID {
		t.Fatalf("envelope: %+v", e)
	}

	dst := &counter{}
	dst.Init("counter", "c1")
	for _, e := range pending {
		if err := dst.Replay(e, reg, dst.apply); err != nil {
			t.Fatal(err)
		}
	}
	if dst.n != 5 || dst.Version() != 2 {
		t.Fatalf("replayed: n=%d v=%d", dst.n, dst.Version())
	}

	tests := []struct {
		name string
		e    Event
		want error
	}{
		{"gap", Event{Type: "test.counter.bumped.v1", Version: 4, Data: []byte(`{"by":1}`)}, ErrVersionGap},
		{"unknown type", Event{Type: "test.other.v1", Version: 3, Data: []byte(`{}`)}, ErrUnknownType},
	}
	for _, tc := range tests {
		if err := dst.Replay(tc.e, reg, dst.apply); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := dst.Replay(Event{Type: "test.counter.bumped.v1", Version: 3, Data: []byte(`{"by":`)}, reg, dst.apply); err == nil {
		t.Error("malformed data accepted")
	}
}

func TestMetaFrom(t *testing.T) {
	now := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	m := MetaFrom(context.Background(), now)
	if m.Actor != "system:unknown" || !m.Time.Equal(now) || m.CorrelationID == "" {
		t.Fatalf("defaults: %+v", m)
	}
	ctx := WithMeta(context.Background(), Meta{Actor: "bob", CorrelationID: "x"})
	if m := MetaFrom(ctx, now); m.Actor != "bob" || m.CorrelationID != "x" {
		t.Fatalf("carried: %+v", m)
	}
	if !IsSystemActor(SystemActor("idle")) || IsSystemActor("bob") {
		t.Fatal("system actor detection")
	}
}
