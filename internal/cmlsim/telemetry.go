package cmlsim

import (
	"net/http"
	"slices"
	"time"
)

// telemetryE is one entry of GET /telemetry/events. CML 2.9 categories
// include start_lab, stop_lab, queue_node, start_node, boot_node, stop_node,
// wipe_node, import_lab, export_lab, user_activity and license_info (see
// the OpenAPI TelemetryEventCategory enum; there is no wipe_lab or
// delete_lab category).
type telemetryE struct {
	Category  string         `json:"category"`
	Timestamp time.Time      `json:"timestamp"`
	Data      map[string]any `json:"data"`
}

// telemetry appends an event. Callers hold s.mu.
func (s *Sim) telemetry(at time.Time, category string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	// Keep the history in time order: transitions noticed late (see
	// advance) carry the earlier time they were due.
	e := telemetryE{Category: category, Timestamp: at.UTC(), Data: data}
	i := len(s.st.Telemetry)
	for i > 0 && s.st.Telemetry[i-1].Timestamp.After(e.Timestamp) {
		i--
	}
	s.st.Telemetry = slices.Insert(s.st.Telemetry, i, e)
	if over := len(s.st.Telemetry) - s.opts.MaxTelemetryEvents; over > 0 {
		s.st.Telemetry = slices.Delete(s.st.Telemetry, 0, over)
	}
}

// userActivity records a user_activity event; the fleet manager's idle
// detector counts these unless the user id looks like a system account.
func (s *Sim) userActivity(at time.Time, userID, activity string, extra map[string]any) {
	d := map[string]any{"user_id": userID, "activity": activity}
	for k, v := range extra {
		d[k] = v
	}
	s.telemetry(at, "user_activity", d)
}

// GET /telemetry/events: the whole history, oldest first, every time (CML
// has no filter parameters; clients filter on their side).
func (s *Sim) handleTelemetryEvents(w http.ResponseWriter, r *http.Request, u *user) {
	s.mu.Lock()
	s.advance(s.clock())
	out := make([]map[string]any, 0, len(s.st.Telemetry))
	for _, e := range s.st.Telemetry {
		out = append(out, map[string]any{
			"category":  e.Category,
			"timestamp": isoTime(e.Timestamp),
			"data":      e.Data,
		})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// GET /telemetry: whether the controller sends telemetry to Cisco.
func (s *Sim) handleTelemetrySettings(w http.ResponseWriter, r *http.Request, u *user) {
	writeJSON(w, http.StatusOK, map[string]any{"opt_in": false, "show_modal": false})
}
