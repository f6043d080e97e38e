package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/lab"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// Projections returns the projections of the aggregates that have read
// models, rebuilding each from store at its latest version.
func Projections(store eventstore.Store, rm readmodel.Store) map[string]Projection {
	workers := eventstore.NewRepository(store, worker.New)
	labs := eventstore.NewRepository(store, lab.New)
	return map[string]Projection{
		worker.AggregateType: ProjectionFunc(func(ctx context.Context, id string) error {
			w, err := workers.Load(ctx, id)
			if err != nil {
				return fmt.Errorf("load worker: %w", err)
			}
			return ProjectWorker(ctx, rm, w)
		}),
		lab.AggregateType: ProjectionFunc(func(ctx context.Context, id string) error {
			l, err := labs.Load(ctx, id)
			if err != nil {
				return fmt.Errorf("load lab: %w", err)
			}
			return ProjectLab(ctx, rm, l)
		}),
	}
}

// WorkerRow is the read-model row of a worker.
func WorkerRow(w *worker.Worker) (readmodel.Worker, error) {
	doc, err := json.Marshal(w.View())
	if err != nil {
		return readmodel.Worker{}, fmt.Errorf("encode worker view: %w", err)
	}
	return readmodel.Worker{ID: w.AggregateID(), Version: w.Version(), Name: w.Name(), Region: w.Region(),
		Status: string(w.Status()), InstanceID: w.InstanceID(), Doc: doc}, nil
}

// ProjectWorker writes a worker's row, or its tombstone once removed.
func ProjectWorker(ctx context.Context, rm readmodel.Store, w *worker.Worker) error {
	if w.Removed() {
		return rm.DeleteWorker(ctx, w.AggregateID(), w.Version())
	}
	row, err := WorkerRow(w)
	if err != nil {
		return err
	}
	_, err = rm.PutWorker(ctx, row)
	return err
}

// ProjectLab writes a lab's row, or its tombstone once removed.
func ProjectLab(ctx context.Context, rm readmodel.Store, l *lab.Lab) error {
	workerID, labID, ok := lab.SplitID(l.AggregateID())
	if !ok {
		return errors.New("lab id is not worker/lab: " + l.AggregateID())
	}
	if l.Removed() {
		return rm.DeleteLab(ctx, workerID, labID, l.Version())
	}
	doc, err := json.Marshal(l.View())
	if err != nil {
		return fmt.Errorf("encode lab view: %w", err)
	}
	_, err = rm.PutLab(ctx, readmodel.Lab{WorkerID: workerID, LabID: labID, Version: l.Version(), Doc: doc})
	return err
}
