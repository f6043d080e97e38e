package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	"github.com/cmlcm/cmlcm/internal/settings"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// Summary is the fleet at a glance (GET /api/fleet/summary).
type Summary struct {
	At       time.Time      `json:"at"`
	Total    int            `json:"total"`
	ByStatus map[string]int `json:"byStatus"` // every status, 0 included
	// RunningCostPerHour is the sum of the hourly prices of the instances
	// EC2 reports running.
	RunningCostPerHour float64 `json:"runningCostPerHour"`
	// Savings of auto-pauses today and this month (UTC).
	Savings SavingsSummary `json:"savings"`
}

// SavingsSummary holds the savings windows.
type SavingsSummary struct {
	Today     Savings `json:"today"`
	ThisMonth Savings `json:"thisMonth"`
}

// Savings is what auto-pauses saved in a window: for each auto-pause, the
// hours from the pause (or the window's start) until the worker was asked
// to run again, terminated or removed (or the window's end, now), and
// those hours times the hourly price of the worker's instance type.
type Savings struct {
	From       time.Time `json:"from"`
	Hours      float64   `json:"hours"`
	Dollars    float64   `json:"dollars"`
	AutoPauses int       `json:"autoPauses"` // auto-pauses that began in the window
}

// summaryConcurrency bounds the per-worker history reads.
const summaryConcurrency = 8

// Summary counts the workers by status, adds up the running cost and
// computes the auto-pause savings from each worker's history.
func (s *Service) Summary(ctx context.Context) (Summary, error) {
	now := s.now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	st, err := s.loadSettings(ctx)
	if err != nil {
		return Summary{}, err
	}
	prices := st.Values().Prices
	sum := Summary{At: now, ByStatus: map[string]int{},
		Savings: SavingsSummary{Today: Savings{From: day}, ThisMonth: Savings{From: month}}}
	for _, status := range worker.Statuses {
		sum.ByStatus[string(status)] = 0
	}
	var views []worker.View
	cursor := ""
	for {
		rows, next, err := s.rm.ListWorkers(ctx, readmodel.WorkerFilter{}, cursor, MaxPageSize)
		if err != nil {
			return Summary{}, err
		}
		for _, r := range rows {
			v, err := decodeView(r)
			if err != nil {
				return Summary{}, err
			}
			views = append(views, v)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	for _, v := range views {
		sum.Total++
		sum.ByStatus[string(v.Status)]++
		sum.RunningCostPerHour += costPerHour(v, prices)
	}

	// Only workers that were ever auto-paused have savings: skip the
	// history reads of the others.
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	sem := make(chan struct{}, summaryConcurrency)
	for _, v := range views {
		if v.Activity.AutoPauseCount == 0 {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(v worker.View) {
			defer wg.Done()
			defer func() { <-sem }()
			intervals, err := s.autoPauseIntervals(ctx, v.ID, month, now)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			price := prices[v.InstanceType]
			for _, iv := range intervals {
				for _, w := range []*Savings{&sum.Savings.Today, &sum.Savings.ThisMonth} {
					h := overlap(iv, w.From, now).Hours()
					w.Hours += h
					w.Dollars += h * price
					if !iv.from.Before(w.From) && iv.began {
						w.AutoPauses++
					}
				}
			}
		}(v)
	}
	wg.Wait()
	if firstErr != nil {
		return Summary{}, firstErr
	}
	for _, w := range []*Savings{&sum.Savings.Today, &sum.Savings.ThisMonth} {
		w.Hours = round(w.Hours, 100)
		w.Dollars = round(w.Dollars, 100)
	}
	sum.RunningCostPerHour = round(sum.RunningCostPerHour, 10000)
	return sum, nil
}

func round(v float64, scale float64) float64 { return float64(int64(v*scale+0.5)) / scale }

type interval struct {
	from, to time.Time
	began    bool // the pause itself is in the history read (not clipped at the window start)
}

func overlap(iv interval, from, to time.Time) time.Duration {
	a, b := iv.from, iv.to
	if a.Before(from) {
		a = from
	}
	if b.After(to) {
		b = to
	}
	return max(b.Sub(a), 0)
}

// autoPauseIntervals reads a worker's history newest first back to just
// before since and returns its auto-paused intervals, clipped to since.
func (s *Service) autoPauseIntervals(ctx context.Context, id string, since, now time.Time) ([]interval, error) {
	type mark struct {
		at    time.Time
		pause bool // an auto-pause; otherwise the end of one
	}
	var marks []mark // newest first
	cursor := ""
	done := false
	for page := 0; page < 50 && !done; page++ {
		rows, next, err := s.rm.ListActivity(ctx, id, cursor, 200)
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			m, ok := classify(r)
			if !ok {
				continue
			}
			marks = append(marks, mark{at: r.Time, pause: m})
			if r.Time.Before(since) {
				done = true // the state at the window's start is known
				break
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	var out []interval
	var open *interval
	for i := len(marks) - 1; i >= 0; i-- {
		m := marks[i]
		switch {
		case m.pause && open == nil:
			open = &interval{from: m.at, began: true}
		case !m.pause && open != nil:
			open.to = m.at
			out = append(out, *open)
			open = nil
		}
	}
	if open != nil {
		open.to = now
		out = append(out, *open)
	}
	return out, nil
}

// classify says whether an activity row starts an auto-pause (true) or
// ends any pause (false); ok is false for rows that do neither.
func classify(r readmodel.Activity) (pause, ok bool) {
	switch r.Type {
	case worker.TypePaused:
		var env struct {
			Data worker.Paused `json:"data"`
		}
		if err := json.Unmarshal(r.Doc, &env); err != nil || !env.Data.Auto {
			return false, false
		}
		return true, true
	case worker.TypeResumed, worker.TypeTerminationRequested, worker.TypeTerminated, worker.TypeRemoved:
		return false, true
	}
	return false, false
}

// Settings returns the fleet settings.
func (s *Service) Settings(ctx context.Context) (Settings, error) {
	st, err := s.loadSettings(ctx)
	if err != nil {
		return Settings{}, err
	}
	return st.View(), nil
}

// UpdateSettings applies a JSON merge patch (RFC 7386) to the settings.
func (s *Service) UpdateSettings(ctx context.Context, patch json.RawMessage) (Settings, error) {
	decide := func(st *settings.Settings) error { return st.Update(patch) }
	st, err := s.settings.Update(ctx, settings.ID, decide)
	if errors.Is(err, eventstore.ErrNotFound) {
		st, err = s.settings.Create(ctx, settings.ID, decide)
		if errors.Is(err, eventstore.ErrConflict) {
			st, err = s.settings.Update(ctx, settings.ID, decide)
		}
	}
	if err != nil {
		return Settings{}, err
	}
	return st.View(), nil
}
