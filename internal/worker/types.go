package worker

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // schedules name IANA zones; Lambda images have no zoneinfo
)

// Status is the observed status of a worker.
type Status string

// Worker statuses. pending…terminated mirror EC2's instance states;
// provisioning is "created, no instance observed yet"; failed is a
// provisioning failure, kept until the worker is terminated or removed.
const (
	StatusProvisioning Status = "provisioning"
	StatusPending      Status = "pending"
	StatusRunning      Status = "running"
	StatusStopping     Status = "stopping"
	StatusStopped      Status = "stopped"
	StatusShuttingDown Status = "shutting-down"
	StatusTerminated   Status = "terminated"
	StatusFailed       Status = "failed"
)

// Statuses lists every status, in lifecycle order.
var Statuses = []Status{StatusProvisioning, StatusPending, StatusRunning, StatusStopping,
	StatusStopped, StatusShuttingDown, StatusTerminated, StatusFailed}

// Power is the desired power state of a worker (its spec).
type Power string

// Desired power states. PowerTerminated is set by a termination request so
// that a reconciler sees the intent even while EC2 still reports the
// instance alive.
const (
	PowerRunning    Power = "running"
	PowerStopped    Power = "stopped"
	PowerTerminated Power = "terminated"
)

// EC2State is an EC2 instance state name as EC2 reports it.
type EC2State string

// EC2 instance states.
const (
	EC2Pending      EC2State = "pending"
	EC2Running      EC2State = "running"
	EC2Stopping     EC2State = "stopping"
	EC2Stopped      EC2State = "stopped"
	EC2ShuttingDown EC2State = "shutting-down"
	EC2Terminated   EC2State = "terminated"
)

func (s EC2State) valid() bool {
	switch s {
	case EC2Pending, EC2Running, EC2Stopping, EC2Stopped, EC2ShuttingDown, EC2Terminated:
		return true
	}
	return false
}

// successor reports whether to is the state EC2 normally enters right after
// from. It breaks ties between two observations stamped with the same
// second (EC2 notifications have second precision).
func successor(from, to EC2State) bool {
	switch to {
	case EC2Running:
		return from == EC2Pending
	case EC2Stopping:
		return from == EC2Running || from == EC2Pending
	case EC2Stopped:
		return from == EC2Stopping
	case EC2Pending:
		return from == EC2Stopped
	case EC2ShuttingDown:
		return from != EC2Terminated
	case EC2Terminated:
		return true
	}
	return false
}

// CheckStatus is an EC2 status check result.
type CheckStatus string

// EC2 status check values; "" means unknown.
const (
	CheckOK               CheckStatus = "ok"
	CheckImpaired         CheckStatus = "impaired"
	CheckInitializing     CheckStatus = "initializing"
	CheckInsufficientData CheckStatus = "insufficient-data"
	CheckNotApplicable    CheckStatus = "not-applicable"
)

func (c CheckStatus) valid() bool {
	switch c {
	case "", CheckOK, CheckImpaired, CheckInitializing, CheckInsufficientData, CheckNotApplicable:
		return true
	}
	return false
}

// LicenseStatus is the CML licence state; "" means not yet known.
type LicenseStatus string

// Licence states.
const (
	LicenseUnregistered LicenseStatus = "unregistered"
	LicenseRegistered   LicenseStatus = "registered"
	LicenseEvaluation   LicenseStatus = "evaluation"
	LicenseExpired      LicenseStatus = "expired"
	LicenseInvalid      LicenseStatus = "invalid"
)

func (l LicenseStatus) valid() bool {
	switch l {
	case LicenseUnregistered, LicenseRegistered, LicenseEvaluation, LicenseExpired, LicenseInvalid:
		return true
	}
	return false
}

// LicenseOperation is the licence job running on the worker, if any.
type LicenseOperation string

// Licence operations; "" means none.
const (
	LicenseRegistering   LicenseOperation = "registering"
	LicenseDeregistering LicenseOperation = "deregistering"
)

// ServiceStatus is the availability of the CML API on the worker.
type ServiceStatus string

// CML service states.
const (
	ServiceUnavailable ServiceStatus = "unavailable"
	ServiceStarting    ServiceStatus = "starting"
	ServiceAvailable   ServiceStatus = "available"
	ServiceError       ServiceStatus = "error"
)

func (s ServiceStatus) valid() bool {
	switch s {
	case ServiceUnavailable, ServiceStarting, ServiceAvailable, ServiceError:
		return true
	}
	return false
}

// ProvisioningState says where the provisioning workflow stands; "" means
// the worker was imported and never went through it.
type ProvisioningState string

// Provisioning states.
const (
	ProvisioningInProgress ProvisioningState = "in-progress"
	ProvisioningCompleted  ProvisioningState = "completed"
	ProvisioningFailed     ProvisioningState = "failed"
	// ProvisioningCancelled: the worker was terminated while provisioning.
	ProvisioningCancelled ProvisioningState = "cancelled"
)

// Schedule is a weekly set of wake-up times in one time zone: at each of
// them a stopped worker is started ahead of use (an automatic resume).
type Schedule struct {
	Timezone string   `json:"timezone"` // IANA name, e.g. "Europe/Paris"
	Wakeups  []Wakeup `json:"wakeups"`
}

// Wakeup is one weekly time: on each of Days at At ("HH:MM", 24 h, local
// to the schedule's time zone).
type Wakeup struct {
	Days []string `json:"days"` // "mon" … "sun"
	At   string   `json:"at"`
}

// Weekdays are the accepted day names, in time.Weekday order.
var Weekdays = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// MaxWakeups bounds a schedule (a handful per week is the use case).
const MaxWakeups = 28

var hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

// Validate reports the first problem of the schedule as a *ValidationError.
func (s Schedule) Validate() error {
	if s.Timezone == "" {
		return invalid("schedule.timezone", "is required")
	}
	if _, err := time.LoadLocation(s.Timezone); err != nil || s.Timezone == "Local" {
		return invalid("schedule.timezone", fmt.Sprintf("%q is not an IANA time zone", s.Timezone))
	}
	if len(s.Wakeups) == 0 {
		return invalid("schedule.wakeups", "needs at least one wake-up (clear the schedule instead)")
	}
	if len(s.Wakeups) > MaxWakeups {
		return invalid("schedule.wakeups", fmt.Sprintf("at most %d wake-ups", MaxWakeups))
	}
	for i, w := range s.Wakeups {
		field := fmt.Sprintf("schedule.wakeups[%d]", i)
		if !hhmm.MatchString(w.At) {
			return invalid(field+".at", fmt.Sprintf("%q is not HH:MM", w.At))
		}
		if len(w.Days) == 0 {
			return invalid(field+".days", "needs at least one day")
		}
		seen := map[string]bool{}
		for _, d := range w.Days {
			if !slices.Contains(Weekdays, d) {
				return invalid(field+".days", fmt.Sprintf("%q is not one of %s", d, strings.Join(Weekdays, ", ")))
			}
			if seen[d] {
				return invalid(field+".days", fmt.Sprintf("%q is repeated", d))
			}
			seen[d] = true
		}
	}
	return nil
}

// Next returns the first wake-up strictly after after, or false when the
// schedule has none (or an unknown time zone). Wall-clock times that a DST
// change skips are normalised forward by time.Date.
func (s Schedule) Next(after time.Time) (time.Time, bool) {
	loc, err := time.LoadLocation(s.Timezone)
	if err != nil {
		return time.Time{}, false
	}
	local := after.In(loc)
	var best time.Time
	// Eight days covers "later today" through "same weekday next week".
	for offset := range 8 {
		day := time.Date(local.Year(), local.Month(), local.Day()+offset, 0, 0, 0, 0, loc)
		name := Weekdays[day.Weekday()]
		for _, w := range s.Wakeups {
			if !slices.Contains(w.Days, name) {
				continue
			}
			h, _ := strconv.Atoi(w.At[:2])
			m, _ := strconv.Atoi(w.At[3:])
			t := time.Date(day.Year(), day.Month(), day.Day(), h, m, 0, 0, loc)
			if t.After(after) && (best.IsZero() || t.Before(best)) {
				best = t
			}
		}
		if !best.IsZero() {
			return best.UTC(), true
		}
	}
	return time.Time{}, false
}

// Due reports whether a wake-up falls in (since, now]: the tick asks it with
// its previous and current time, so a wake-up is acted on exactly once.
func (s Schedule) Due(since, now time.Time) bool {
	next, ok := s.Next(since)
	return ok && !next.After(now)
}

func (s *Schedule) clone() *Schedule {
	if s == nil {
		return nil
	}
	c := Schedule{Timezone: s.Timezone, Wakeups: make([]Wakeup, len(s.Wakeups))}
	for i, w := range s.Wakeups {
		c.Wakeups[i] = Wakeup{Days: slices.Clone(w.Days), At: w.At}
	}
	return &c
}

func (s *Schedule) equal(o *Schedule) bool {
	if s == nil || o == nil {
		return s == o
	}
	return s.Timezone == o.Timezone && slices.EqualFunc(s.Wakeups, o.Wakeups, func(a, b Wakeup) bool {
		return a.At == b.At && slices.Equal(a.Days, b.Days)
	})
}
