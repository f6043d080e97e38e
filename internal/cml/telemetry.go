package cml

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// TelemetryEvent is one entry of GET /telemetry/events.
type TelemetryEvent struct {
	Category  string         `json:"category"`
	Timestamp string         `json:"timestamp"`
	Data      map[string]any `json:"data"`
	// Time is Timestamp parsed (zero when CML sent something unparseable).
	Time time.Time `json:"-"`
}

// UserID is data.user_id, when present.
func (e TelemetryEvent) UserID() string {
	s, _ := e.Data["user_id"].(string)
	return s
}

// DefaultActivityCategories are the telemetry categories that count as
// worker activity for idle detection (the old fleet manager's list;
// wipe_lab is not a CML 2.9 category but costs nothing to keep).
var DefaultActivityCategories = []string{
	"start_lab", "stop_lab", "wipe_lab", "import_lab", "export_lab",
	"start_node", "stop_node", "queue_node", "boot_node", "user_activity",
}

// DefaultExcludedUserPattern matches system and automation accounts (the
// built-in admin is 00000000-0000-4000-a000-000000000000): their
// user_activity — e.g. the fleet manager's own polling — is not activity.
var DefaultExcludedUserPattern = regexp.MustCompile(`^00000000-0000-.*`)

// ActivityFilter selects telemetry events on the client side (CML has no
// filter parameters and returns the whole history every time).
type ActivityFilter struct {
	// Since keeps events strictly after this time (zero = all).
	Since time.Time
	// Categories to keep; nil = DefaultActivityCategories, empty
	// non-nil = every category.
	Categories []string
	// ExcludeUsers drops user_activity events whose data.user_id matches;
	// nil = DefaultExcludedUserPattern.
	ExcludeUsers *regexp.Regexp
}

// Match reports whether e passes the filter.
func (f ActivityFilter) Match(e TelemetryEvent) bool {
	if !f.Since.IsZero() && !e.Time.After(f.Since) {
		return false
	}
	cats := f.Categories
	if cats == nil {
		cats = DefaultActivityCategories
	}
	if len(cats) > 0 && !slices.Contains(cats, e.Category) {
		return false
	}
	if e.Category == "user_activity" {
		re := f.ExcludeUsers
		if re == nil {
			re = DefaultExcludedUserPattern
		}
		if re.MatchString(e.UserID()) {
			return false
		}
	}
	return true
}

// TelemetryEvents reads the controller's telemetry history, keeping the
// events filter matches (nil = all events), oldest first.
func (c *Client) TelemetryEvents(ctx context.Context, filter *ActivityFilter) ([]TelemetryEvent, error) {
	var all []TelemetryEvent
	if err := c.getJSON(ctx, "telemetry/events", &all); err != nil {
		return nil, err
	}
	out := all[:0]
	for _, e := range all {
		e.Time, _ = ParseTimestamp(e.Timestamp)
		if filter == nil || filter.Match(e) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b TelemetryEvent) int { return a.Time.Compare(b.Time) })
	return out, nil
}

// ParseTimestamp reads CML's timestamps, which come with and without
// fractional seconds and with an offset, a trailing Z, or neither (UTC).
func ParseTimestamp(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("cml: unparseable timestamp %q", s)
}
