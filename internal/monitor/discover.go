package monitor

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	"github.com/cmlcm/cmlcm/internal/settings"
)

// TypeOrphansDetected is the integration event naming instances that carry
// our managed tag but belong to no worker we know. It is published on the
// bus (not event-sourced: it describes EC2, not an aggregate); its schema
// is events/integration/cml.fleet.orphans_detected.v1.json.
const TypeOrphansDetected = "cml.fleet.orphans_detected.v1"

// Orphan is one instance in an orphan report.
type Orphan struct {
	InstanceID string    `json:"instanceId"`
	Region     string    `json:"region"`
	State      string    `json:"state"`
	WorkerID   string    `json:"workerId"` // its cmlcm:worker-id tag
	Name       string    `json:"name"`
	LaunchTime time.Time `json:"launchTime,omitzero"`
}

// OrphansDetected is the report's data.
type OrphansDetected struct {
	Orphans []Orphan `json:"orphans"`
}

// discover imports instances matching the discovery settings (when
// enabled) and reports orphans in every region we use: instances tagged
// cmlcm:managed=true that no worker owns. Nothing is terminated.
func (m *Monitor) discover(ctx context.Context, log *slog.Logger, v settings.Values, all []tracked, cnt *counters) {
	regions := slices.Clone(v.Discovery.Regions)
	for _, t := range all {
		if !slices.Contains(regions, t.view.Region) {
			regions = append(regions, t.view.Region)
		}
	}
	slices.Sort(regions)
	known := func(id string) bool {
		_, err := m.o.ReadModel.WorkerByInstance(ctx, id)
		return !errors.Is(err, readmodel.ErrNotFound)
	}
	var orphans []Orphan
	for _, region := range regions {
		if v.Discovery.Enabled && slices.Contains(v.Discovery.Regions, region) {
			f := cloud.DiscoverFilter{AMINamePattern: v.Discovery.AMINamePattern}
			if v.Discovery.TagKey != "" {
				f.Tags = map[string]string{v.Discovery.TagKey: v.Discovery.TagValue}
			}
			found, err := m.o.Cloud.Discover(ctx, region, f)
			if err != nil {
				log.Warn("discovery", "region", region, "err", err)
			}
			for _, in := range found {
				if known(in.ID) || in.Managed() {
					continue // managed ones are orphans, reported below
				}
				cnt.add(func(r *Report) { r.Discovered++ })
				if m.o.Importer != nil {
					if err := m.o.Importer.ImportInstance(ctx, in); err != nil {
						log.Warn("import discovered instance", "instance", in.ID, "err", err)
					}
				} else {
					log.Info("discovered an instance to import", "instance", in.ID, "region", region)
				}
			}
		}
		managed, err := m.o.Cloud.Discover(ctx, region, cloud.DiscoverFilter{Tags: map[string]string{cloud.TagManaged: "true"}})
		if err != nil {
			log.Warn("orphan scan", "region", region, "err", err)
			continue
		}
		for _, in := range managed {
			if !known(in.ID) {
				orphans = append(orphans, Orphan{InstanceID: in.ID, Region: region, State: string(in.State),
					WorkerID: in.WorkerID(), Name: in.Tags[cloud.TagName], LaunchTime: in.LaunchTime})
			}
		}
	}
	if len(orphans) == 0 {
		return
	}
	for _, o := range orphans {
		cnt.add(func(r *Report) { r.Orphans = append(r.Orphans, o.InstanceID) })
	}
	log.Warn("orphan instances: tagged as ours, unknown to the fleet (import or terminate them)", "orphans", orphans)
	if m.o.Publisher == nil {
		return
	}
	data, _ := json.Marshal(OrphansDetected{Orphans: orphans})
	meta := event.MetaFrom(ctx, time.Now().UTC())
	e := event.Event{ID: uuid.Must(uuid.NewV7()).String(), Type: TypeOrphansDetected, AggregateType: "fleet",
		AggregateID: "fleet", Version: 0, Time: time.Now().UTC(), Actor: ActorReconcile, CorrelationID: meta.CorrelationID,
		SchemaVersion: event.SchemaVersion, Data: data}
	if err := m.o.Publisher.Publish(ctx, []event.Event{e}); err != nil {
		log.Warn("publish orphan report", "err", err)
	}
}
