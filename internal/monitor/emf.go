package monitor

import (
	"encoding/json"
	"io"
	"sync"
	"time"
)

// EMF writes CloudWatch embedded-metric-format lines: in a Lambda, a JSON
// line on stdout becomes metrics without any API call.
type EMF struct {
	mu        sync.Mutex
	w         io.Writer
	namespace string
	env       string
}

// NewEMF returns a writer of metrics in namespace, dimensioned by env.
func NewEMF(w io.Writer, namespace, env string) *EMF {
	return &EMF{w: w, namespace: namespace, env: env}
}

// Emit writes one line with the given counters.
func (e *EMF) Emit(values map[string]float64, units map[string]string) {
	if e == nil || e.w == nil || len(values) == 0 {
		return
	}
	type metric struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	ms := make([]metric, 0, len(values))
	doc := map[string]any{"Environment": e.env}
	for k, v := range values {
		u := units[k]
		if u == "" {
			u = "Count"
		}
		ms = append(ms, metric{k, u})
		doc[k] = v
	}
	doc["_aws"] = map[string]any{
		"Timestamp": time.Now().UnixMilli(),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace": e.namespace, "Dimensions": [][]string{{"Environment"}}, "Metrics": ms,
		}},
	}
	b, _ := json.Marshal(doc)
	e.mu.Lock()
	defer e.mu.Unlock()
	_, _ = e.w.Write(append(b, '\n'))
}

// Tick emits a tick's key counters.
func (e *EMF) Tick(r Report) {
	if e == nil {
		return
	}
	v := map[string]float64{
		"Workers": float64(r.Workers), "AutoPauses": float64(r.Pauses), "IdleWarnings": float64(r.Warnings),
		"Wakeups": float64(r.Wakeups), "CMLErrors": float64(r.CMLErrors), "ExternalChanges": float64(r.ExternalChanges),
		"Orphans": float64(len(r.Orphans)), "TickErrors": float64(r.Errors), "TickDuration": float64(r.Duration.Milliseconds()),
	}
	for s, n := range r.ByStatus {
		v["Workers_"+s] = float64(n)
	}
	e.Emit(v, map[string]string{"TickDuration": "Milliseconds"})
}
