package monitor

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cmlcm/cmlcm/internal/cml"
	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/lab"
)

// refreshLabs synchronises lab records with each due worker's CML:
// discovered, changed and deleted labs become lab events.
func (m *Monitor) refreshLabs(ctx context.Context, log *slog.Logger, due []tracked, cnt *counters) {
	if m.o.Labs == nil {
		return
	}
	each(ctx, m.o.Concurrency, due, func(ctx context.Context, t tracked) {
		if err := m.RefreshLabs(ctx, t.row.ID, t.view.Endpoint); err != nil {
			log.Warn("lab refresh", "worker", t.row.ID, "err", err)
			cnt.add(func(r *Report) { r.CMLErrors++ })
			return
		}
		cnt.add(func(r *Report) { r.LabsRefreshed++ })
	})
}

// RefreshLabs synchronises one worker's lab records now (also what an
// on-demand refresh from the API can call).
func (m *Monitor) RefreshLabs(ctx context.Context, workerID, endpoint string) error {
	cctx, cancel := context.WithTimeout(ctx, m.o.WorkerTimeout)
	defer cancel()
	at := time.Now().UTC()
	labs, err := m.o.CML(endpoint).Labs(cctx)
	if err != nil {
		return err
	}
	ctx = m.with(ctx, ActorLabs)
	seen := map[string]bool{}
	for _, l := range labs {
		seen[l.ID] = true
		snap := Snapshot(l, at)
		observe := func(r *lab.Lab) error { return r.Observe(snap) }
		_, err := m.o.Labs.Update(ctx, lab.ID(workerID, l.ID), observe)
		if errors.Is(err, eventstore.ErrNotFound) {
			_, err = m.o.Labs.Create(ctx, lab.ID(workerID, l.ID), observe)
			if errors.Is(err, eventstore.ErrConflict) {
				// A concurrent refresh created it: observe on top.
				_, err = m.o.Labs.Update(ctx, lab.ID(workerID, l.ID), observe)
			}
		}
		if err != nil {
			return err
		}
	}
	known, err := m.o.ReadModel.ListLabs(ctx, workerID)
	if err != nil {
		return err
	}
	for _, k := range known {
		if seen[k.LabID] {
			continue
		}
		if _, err := m.o.Labs.Update(ctx, lab.ID(workerID, k.LabID), func(r *lab.Lab) error {
			if !r.Exists() || r.Removed() {
				return nil
			}
			return r.Remove("deleted on the worker")
		}); err != nil {
			return err
		}
	}
	return nil
}

// Snapshot converts CML's lab to the lab record's observation.
func Snapshot(l cml.Lab, at time.Time) lab.Snapshot {
	created, _ := cml.ParseTimestamp(l.Created)
	modified, _ := cml.ParseTimestamp(l.Modified)
	owner := l.OwnerUsername
	if owner == "" {
		owner = l.Owner
	}
	return lab.Snapshot{LabID: l.ID, Title: l.Title, Description: l.Description, State: l.State, Owner: owner,
		NodeCount: l.NodeCount, LinkCount: l.LinkCount, CreatedAt: created, ModifiedAt: modified, ObservedAt: at}
}
