package projector_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	bbolt "go.etcd.io/bbolt"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	esbolt "github.com/cmlcm/cmlcm/internal/eventstore/bolt"
	"github.com/cmlcm/cmlcm/internal/idle"
	"github.com/cmlcm/cmlcm/internal/lab"
	"github.com/cmlcm/cmlcm/internal/projector"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	rmbolt "github.com/cmlcm/cmlcm/internal/readmodel/bolt"
	"github.com/cmlcm/cmlcm/internal/worker"
)

var t0 = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

// history writes a realistic history into store: three workers through
// their lifecycle (one removed) and labs on one of them (one removed), and
// returns every commit in commit order and the aggregate ids.
func history(t *testing.T, store eventstore.Store) ([]eventstore.Commit, []string) {
	t.Helper()
	clock := t0
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	workers := eventstore.NewRepository(store, worker.New, eventstore.WithClock(now), eventstore.WithSnapshotEvery(4))
	labs := eventstore.NewRepository(store, lab.New, eventstore.WithClock(now))
	ctx := event.WithMeta(context.Background(), event.Meta{Actor: "alice", CorrelationID: "c"})
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ids := []string{"w-a", "w-b", "w-c"}
	for i, id := range ids {
		must(workers.Create(ctx, id, func(w *worker.Worker) error {
			return w.Create(worker.CreateSpec{Name: "worker " + id, Region: "us-east-1", InstanceType: "m5zn.metal", AMIID: "ami-1"})
		}))
		must(workers.Update(ctx, id, func(w *worker.Worker) error {
			return w.AssignInstance(worker.InstanceAssignment{InstanceID: fmt.Sprintf("i-%d", i), AMIID: "ami-1", InstanceType: "m5zn.metal"})
		}))
		for _, st := range []worker.EC2State{"pending", "running"} {
			must(workers.Update(ctx, id, func(w *worker.Worker) error {
				return w.ObserveEC2(worker.EC2Observation{State: st, ObservedAt: now()})
			}))
		}
		must(workers.Update(ctx, id, func(w *worker.Worker) error {
			return w.SetTags(map[string]string{"team": id})
		}))
		must(workers.Update(ctx, id, func(w *worker.Worker) error {
			return w.SetIdlePolicy(&idle.Policy{Enabled: true, TimeoutMinutes: 30 + i, WarningMinutes: 5, SnoozeMinutes: 60})
		}))
	}
	must(workers.Update(ctx, "w-c", func(w *worker.Worker) error { return w.ProvisioningCompleted() }))
	must(workers.Update(ctx, "w-c", func(w *worker.Worker) error { return w.Remove("test") }))
	for j := range 3 {
		id := lab.ID("w-a", fmt.Sprintf("lab-%d", j))
		for k, st := range []string{"DEFINED_ON_CORE", "STARTED"} {
			write := labs.Update
			if k == 0 {
				write = labs.Create
			}
			must(write(ctx, id, func(l *lab.Lab) error {
				return l.Observe(lab.Snapshot{LabID: fmt.Sprintf("lab-%d", j), Title: "Lab", State: st, Owner: "alice",
					NodeCount: 3, LinkCount: 2, CreatedAt: t0, ModifiedAt: t0, ObservedAt: now()})
			}))
		}
	}
	must(labs.Update(ctx, lab.ID("w-a", "lab-1"), func(l *lab.Lab) error { return l.Remove("deleted") }))

	var commits []eventstore.Commit
	for _, id := range append(slices.Clone(ids), lab.ID("w-a", "lab-0"), lab.ID("w-a", "lab-1"), lab.ID("w-a", "lab-2")) {
		cursor := ""
		var evs []event.Event
		for {
			page, err := store.History(context.Background(), id, cursor, 100)
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, page.Events...)
			if page.Next == "" {
				break
			}
			cursor = page.Next
		}
		// One commit per event is a valid split of the history for the
		// projector (it only looks at aggregate ids and versions).
		for _, e := range evs {
			commits = append(commits, eventstore.Commit{AggregateID: e.AggregateID, AggregateType: e.AggregateType, Events: []event.Event{e}})
		}
	}
	return commits, ids
}

func openBolt(t *testing.T) *bbolt.DB {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(t.TempDir(), "x.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// dump renders every read-model row reachable from the aggregate ids.
func dump(t *testing.T, rm readmodel.Store, workerIDs []string, aggregateIDs []string) []byte {
	t.Helper()
	ctx := context.Background()
	var buf bytes.Buffer
	list, _, err := rm.ListWorkers(ctx, readmodel.WorkerFilter{}, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(&buf)
	_ = enc.Encode(list)
	for _, id := range workerIDs {
		w, err := rm.GetWorker(ctx, id)
		_ = enc.Encode(w)
		_ = enc.Encode(errors.Is(err, readmodel.ErrNotFound))
		labs, err := rm.ListLabs(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		_ = enc.Encode(labs)
	}
	for _, id := range aggregateIDs {
		acts, _, err := rm.ListActivity(ctx, id, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		_ = enc.Encode(acts)
	}
	return buf.Bytes()
}

func TestReplayDuplicatesAndDisorderConverge(t *testing.T) {
	ctx := context.Background()
	db := openBolt(t)
	store, err := esbolt.New(db)
	if err != nil {
		t.Fatal(err)
	}
	commits, workerIDs := history(t, store)
	aggIDs := []string{"w-a", "w-b", "w-c", lab.ID("w-a", "lab-0"), lab.ID("w-a", "lab-1"), lab.ID("w-a", "lab-2")}

	project := func(t *testing.T, batches [][]eventstore.Commit) []byte {
		rm, err := rmbolt.New(openBolt(t))
		if err != nil {
			t.Fatal(err)
		}
		p := projector.New(projector.Projections(store, rm), rm, nil, nil)
		for _, b := range batches {
			if err := p.Handle(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
		return dump(t, rm, workerIDs, aggIDs)
	}

	inOrder := project(t, [][]eventstore.Commit{commits})
	if !bytes.Contains(inOrder, []byte(`"worker w-a"`)) || !bytes.Contains(inOrder, []byte(`"labId":"lab-2"`)) {
		t.Fatalf("projection is missing rows:\n%s", inOrder)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	shuffled := slices.Clone(commits)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	var oneByOne [][]eventstore.Commit
	for _, c := range shuffled {
		oneByOne = append(oneByOne, []eventstore.Commit{c})
	}
	var withDuplicates [][]eventstore.Commit
	for i := 0; i < len(shuffled); i += 5 {
		b := slices.Clone(shuffled[i:min(i+5, len(shuffled))])
		withDuplicates = append(withDuplicates, b, b) // every batch delivered twice
	}

	tests := []struct {
		name    string
		batches [][]eventstore.Commit
	}{
		{"whole history twice", [][]eventstore.Commit{commits, commits}},
		{"out of order, one by one", oneByOne},
		{"out of order, duplicated batches", withDuplicates},
		{"newest first", [][]eventstore.Commit{reversed(commits)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := project(t, tc.batches); !bytes.Equal(got, inOrder) {
				t.Fatalf("read models differ from the in-order projection:\n got %s\nwant %s", got, inOrder)
			}
		})
	}

	// The removed worker and lab are gone, the others are there.
	rm, _ := rmbolt.New(openBolt(t))
	p := projector.New(projector.Projections(store, rm), rm, nil, nil)
	if err := p.Handle(ctx, commits); err != nil {
		t.Fatal(err)
	}
	if _, err := rm.GetWorker(ctx, "w-c"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("removed worker still listed: %v", err)
	}
	if w, err := rm.WorkerByInstance(ctx, "i-1"); err != nil || w.ID != "w-b" {
		t.Errorf("by instance: %+v %v", w, err)
	}
	if _, err := rm.GetLab(ctx, "w-a", "lab-1"); !errors.Is(err, readmodel.ErrNotFound) {
		t.Errorf("removed lab still listed: %v", err)
	}
}

func reversed(c []eventstore.Commit) []eventstore.Commit {
	out := slices.Clone(c)
	slices.Reverse(out)
	return out
}

// failingRM fails worker writes for one id.
type failingRM struct {
	readmodel.Store
	failID string
}

func (f failingRM) PutWorker(ctx context.Context, w readmodel.Worker) (bool, error) {
	if w.ID == f.failID {
		return false, errors.New("injected write failure")
	}
	return f.Store.PutWorker(ctx, w)
}

func TestHandleStreamReportsFirstFailedRecord(t *testing.T) {
	ctx := context.Background()
	db := openBolt(t)
	store, _ := esbolt.New(db)
	commits, _ := history(t, store)
	inner, _ := rmbolt.New(db)
	rm := failingRM{Store: inner, failID: "w-b"}
	p := projector.New(projector.Projections(store, rm), rm, nil, nil)

	// Records in commit order; the decoder hands back the commit by index.
	batch := events.DynamoDBEvent{}
	for i := range commits {
		batch.Records = append(batch.Records, events.DynamoDBEventRecord{
			EventID: fmt.Sprint(i), Change: events.DynamoDBStreamRecord{SequenceNumber: fmt.Sprintf("%05d", i)}})
	}
	decode := func(r events.DynamoDBEventRecord) (eventstore.Commit, bool, error) {
		var i int
		fmt.Sscan(r.EventID, &i)
		return commits[i], true, nil
	}
	resp, err := p.HandleStream(ctx, batch, decode)
	if err != nil {
		t.Fatal(err)
	}
	first := -1
	for i, c := range commits {
		if c.AggregateID == "w-b" {
			first = i
			break
		}
	}
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != fmt.Sprintf("%05d", first) {
		t.Fatalf("failures %+v, want the first w-b record %05d", resp.BatchItemFailures, first)
	}
	// The other aggregates were projected despite w-b failing.
	if _, err := inner.GetWorker(ctx, "w-a"); err != nil {
		t.Errorf("w-a not projected: %v", err)
	}

	// An undecodable record stops the batch there.
	bad := func(r events.DynamoDBEventRecord) (eventstore.Commit, bool, error) {
		if r.EventID == "2" {
			return eventstore.Commit{}, false, errors.New("garbage")
		}
		return decode(r)
	}
	resp, _ = p.HandleStream(ctx, batch, bad)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != "00002" {
		t.Fatalf("failures %+v, want record 00002", resp.BatchItemFailures)
	}
}

// recordingPublisher keeps what it was asked to publish.
type recordingPublisher struct{ got []string }

func (r *recordingPublisher) Publish(_ context.Context, evs []event.Event) error {
	for _, e := range evs {
		r.got = append(r.got, e.ID)
	}
	return nil
}

func TestPublishesEveryEvent(t *testing.T) {
	db := openBolt(t)
	store, _ := esbolt.New(db)
	commits, _ := history(t, store)
	rm, _ := rmbolt.New(db)
	pub := &recordingPublisher{}
	if err := projector.New(projector.Projections(store, rm), rm, pub, nil).Handle(context.Background(), commits); err != nil {
		t.Fatal(err)
	}
	if len(pub.got) != len(commits) {
		t.Fatalf("published %d of %d events", len(pub.got), len(commits))
	}
}
