package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/cmlcm/cmlcm/internal/lab"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/telemetry"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// Worker is a worker as the API shows it: the aggregate's view plus its
// latest telemetry and its running cost.
type Worker struct {
	worker.View
	// Metrics is the latest telemetry sample; null before the first one.
	Metrics *Metrics `json:"metrics"`
	// CostPerHour is the instance type's hourly price while EC2 reports
	// the instance running (EC2 bills running instances only), else 0.
	CostPerHour float64 `json:"costPerHour"`
	// PricePerHour is the instance type's hourly price from the settings
	// (0 when the settings have no price for it).
	PricePerHour float64 `json:"pricePerHour"`
}

// Metrics is a worker's latest telemetry sample.
type Metrics struct {
	CPUPercent    *float64  `json:"cpuPercent"`
	MemoryPercent *float64  `json:"memoryPercent"`
	DiskPercent   *float64  `json:"diskPercent"`
	RunningNodes  *int      `json:"runningNodes"`
	LabCount      *int      `json:"labCount"`
	At            time.Time `json:"at"`
}

func metricsOf(s telemetry.Sample, ok bool) *Metrics {
	if !ok {
		return nil
	}
	return &Metrics{CPUPercent: s.CPUPercent, MemoryPercent: s.MemoryPercent, DiskPercent: s.DiskPercent,
		RunningNodes: s.RunningNodes, LabCount: s.LabCount, At: s.At}
}

// costPerHour is what a worker costs now: its price while EC2 runs it.
func costPerHour(v worker.View, prices map[string]float64) float64 {
	if v.EC2.State != worker.EC2Running {
		return 0
	}
	return prices[v.InstanceType]
}

// present turns views into representations with one telemetry read and
// one settings read for the lot.
func (s *Service) present(ctx context.Context, views []worker.View) ([]Worker, error) {
	ids := make([]string, len(views))
	for i, v := range views {
		ids[i] = v.ID
	}
	latest, err := s.tm.Latest(ctx, ids)
	if err != nil {
		// Telemetry is decoration: a failing telemetry store must not
		// hide the fleet.
		s.log.WarnContext(ctx, "latest telemetry unavailable", "err", err)
		latest = nil
	}
	st, err := s.loadSettings(ctx)
	if err != nil {
		return nil, err
	}
	prices := st.Values().Prices
	out := make([]Worker, len(views))
	for i, v := range views {
		smp, ok := latest[v.ID]
		out[i] = Worker{View: v, Metrics: metricsOf(smp, ok), CostPerHour: costPerHour(v, prices), PricePerHour: prices[v.InstanceType]}
	}
	return out, nil
}

func (s *Service) presentOne(ctx context.Context, w *worker.Worker) (Worker, error) {
	out, err := s.present(ctx, []worker.View{w.View()})
	if err != nil {
		return Worker{}, err
	}
	return out[0], nil
}

func decodeView(r readmodel.Worker) (worker.View, error) {
	var v worker.View
	if err := json.Unmarshal(r.Doc, &v); err != nil {
		return v, fmt.Errorf("decode worker row %s: %w", r.ID, err)
	}
	return v, nil
}

// Lab is a lab as the API shows it: id is CML's lab id (the one in the
// URL), workerId its worker.
type Lab struct {
	lab.View
	ID string `json:"id"`
}

func labOf(v lab.View) Lab { return Lab{View: v, ID: v.LabID} }

// Page is one page of a listing; Next is the opaque cursor of the next
// page, empty on the last.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// Settings is the fleet settings' representation.
type Settings = settings.View
