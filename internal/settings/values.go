package settings

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/cmlcm/cmlcm/internal/idle"
)

// Values are the fleet settings. Their JSON is what GET /api/settings
// shows and what a patch addresses.
type Values struct {
	Provisioning Provisioning `json:"provisioning"`
	Intervals    Intervals    `json:"intervals"`
	Discovery    Discovery    `json:"discovery"`
	// IdlePolicy is the fleet's idle policy; a worker's own policy overrides it.
	IdlePolicy idle.Policy `json:"idlePolicy"`
	// Prices are on-demand USD per hour by instance type, for running cost
	// and the savings of auto-pauses.
	Prices                 map[string]float64 `json:"prices"`
	TelemetryRetentionDays int                `json:"telemetryRetentionDays"`
	License                License            `json:"license"`
}

// AMI names the image a region's workers boot: an id, or a name (pattern)
// resolved to the newest match at launch.
type AMI struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Provisioning holds what a launch needs and the workflow's timeouts.
type Provisioning struct {
	AMIs         map[string]AMI `json:"amis"` // by region
	InstanceType string         `json:"instanceType"`
	// Subnets by region, in preference order: a capacity error moves on to
	// the next one.
	Subnets            map[string][]string `json:"subnets"`
	SecurityGroups     map[string][]string `json:"securityGroups"` // by region
	KeyPairName        string              `json:"keyPairName"`
	RootVolumeGiB      int                 `json:"rootVolumeGiB"` // 0 keeps the AMI's size
	InstanceProfile    string              `json:"instanceProfile"`
	KeepFailedInstance bool                `json:"keepFailedInstance"` // skip compensation, for debugging
	Timeouts           Timeouts            `json:"timeouts"`
}

// Timeouts of the provisioning workflow; defaults suit m5zn.metal (about
// 20 minutes to CML ready).
type Timeouts struct {
	RunningMinutes      int `json:"runningMinutes"`
	StatusChecksMinutes int `json:"statusChecksMinutes"`
	CMLReadyMinutes     int `json:"cmlReadyMinutes"`
	TotalMinutes        int `json:"totalMinutes"`
	EC2PollSeconds      int `json:"ec2PollSeconds"`
	CMLPollSeconds      int `json:"cmlPollSeconds"`
}

// Intervals of the periodic jobs the tick runs; a change takes effect on
// the next tick.
type Intervals struct {
	MetricsSeconds     int `json:"metricsSeconds"`
	LabsRefreshSeconds int `json:"labsRefreshSeconds"`
	IdleCheckSeconds   int `json:"idleCheckSeconds"`
	DiscoverySeconds   int `json:"discoverySeconds"`
}

// Discovery imports instances found by tag or AMI name.
type Discovery struct {
	Enabled        bool     `json:"enabled"`
	Regions        []string `json:"regions"`
	TagKey         string   `json:"tagKey"`
	TagValue       string   `json:"tagValue"` // "" matches any value of TagKey
	AMINamePattern string   `json:"amiNamePattern"`
}

// License holds the polling of the licence jobs.
type License struct {
	PollSeconds    int `json:"pollSeconds"`
	TimeoutSeconds int `json:"timeoutSeconds"`
}

// DefaultPrices are us-east-1 Linux on-demand list prices (USD/hour) of the
// instance types CML workers use; edit them in the settings for other
// regions or discounts.
func DefaultPrices() map[string]float64 {
	return map[string]float64{
		"m5zn.metal":     3.964,
		"c5n.metal":      3.888,
		"c5.metal":       4.08,
		"m5.metal":       4.608,
		"m5d.metal":      5.424,
		"m5n.metal":      5.712,
		"r5.metal":       6.048,
		"c6i.metal":      5.44,
		"m6i.metal":      6.144,
		"m7i.metal-24xl": 4.8384,
		"m7i.metal-48xl": 9.6768,
		"t3.medium":      0.0416,
		"t3.large":       0.0832,
		"t3.xlarge":      0.1664,
		"t3.2xlarge":     0.3328,
	}
}

// Defaults are the settings before any update.
//
// Changing a default changes every installation that never overrode it
// (updates record only what changed), but snapshots hold the full values:
// bump SnapshotSchema whenever a default changes so snapshots are replayed.
func Defaults() Values {
	return Values{
		Provisioning: Provisioning{
			AMIs:           map[string]AMI{},
			InstanceType:   "m5zn.metal",
			Subnets:        map[string][]string{},
			SecurityGroups: map[string][]string{},
			Timeouts: Timeouts{RunningMinutes: 10, StatusChecksMinutes: 15, CMLReadyMinutes: 30, TotalMinutes: 45,
				EC2PollSeconds: 15, CMLPollSeconds: 30},
		},
		Intervals:              Intervals{MetricsSeconds: 300, LabsRefreshSeconds: 1800, IdleCheckSeconds: 60, DiscoverySeconds: 3600},
		Discovery:              Discovery{Regions: []string{}},
		IdlePolicy:             idle.DefaultPolicy(),
		Prices:                 DefaultPrices(),
		TelemetryRetentionDays: 14,
		License:                License{PollSeconds: 5, TimeoutSeconds: 90},
	}
}

// Clone returns a deep copy.
func (v Values) Clone() Values {
	c := v
	c.Provisioning.AMIs = maps.Clone(v.Provisioning.AMIs)
	c.Provisioning.Subnets = cloneLists(v.Provisioning.Subnets)
	c.Provisioning.SecurityGroups = cloneLists(v.Provisioning.SecurityGroups)
	c.Discovery.Regions = slices.Clone(v.Discovery.Regions)
	c.IdlePolicy = v.IdlePolicy.Clone()
	c.Prices = maps.Clone(v.Prices)
	return c
}

func cloneLists(m map[string][]string) map[string][]string {
	if m == nil {
		return nil
	}
	c := make(map[string][]string, len(m))
	for k, v := range m {
		c[k] = slices.Clone(v)
	}
	return c
}

// Price returns the hourly price of an instance type.
func (v Values) Price(instanceType string) (float64, bool) {
	p, ok := v.Prices[instanceType]
	return p, ok
}

// AMIFor returns the default AMI of a region.
func (v Values) AMIFor(region string) (AMI, bool) {
	a, ok := v.Provisioning.AMIs[region]
	return a, ok
}

// Every returns an interval in seconds as a duration.
func Every(seconds int) time.Duration { return time.Duration(seconds) * time.Second }

// Limits.
const (
	MaxIntervalSeconds = 7 * 24 * 3600
	MaxPrice           = 1000.0
)

var (
	regionRE       = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	instanceTypeRE = regexp.MustCompile(`^[a-z][a-z0-9-]*\.[a-z0-9-]+$`)
	amiIDRE        = regexp.MustCompile(`^ami-[0-9a-z]{1,32}$`)
	subnetRE       = regexp.MustCompile(`^subnet-[0-9a-z]{1,32}$`)
	sgRE           = regexp.MustCompile(`^sg-[0-9a-z]{1,32}$`)
)

// Validate reports the first unusable value as a *ValidationError.
func (v Values) Validate() error {
	p := v.Provisioning
	for _, region := range slices.Sorted(maps.Keys(p.AMIs)) {
		a := p.AMIs[region]
		field := "provisioning.amis." + region
		switch {
		case !regionRE.MatchString(region):
			return invalid(field, "is not keyed by an AWS region")
		case a.ID == "" && a.Name == "":
			return invalid(field, "needs an id or a name")
		case a.ID != "" && !amiIDRE.MatchString(a.ID):
			return invalid(field+".id", fmt.Sprintf("%q is not an AMI id", a.ID))
		case len(a.Name) > 128:
			return invalid(field+".name", "is longer than 128 characters")
		}
	}
	if !instanceTypeRE.MatchString(p.InstanceType) {
		return invalid("provisioning.instanceType", fmt.Sprintf("%q is not an instance type", p.InstanceType))
	}
	if err := validateLists("provisioning.subnets", p.Subnets, subnetRE, "subnet id"); err != nil {
		return err
	}
	if err := validateLists("provisioning.securityGroups", p.SecurityGroups, sgRE, "security group id"); err != nil {
		return err
	}
	switch {
	case len(p.KeyPairName) > 255:
		return invalid("provisioning.keyPairName", "is longer than 255 characters")
	case p.RootVolumeGiB != 0 && (p.RootVolumeGiB < 8 || p.RootVolumeGiB > 16384):
		return invalid("provisioning.rootVolumeGiB", "must be 0 (the AMI's size) or 8 to 16384")
	case len(p.InstanceProfile) > 2048:
		return invalid("provisioning.instanceProfile", "is too long")
	}
	t := p.Timeouts
	for _, c := range []struct {
		field string
		value int
	}{{"runningMinutes", t.RunningMinutes}, {"statusChecksMinutes", t.StatusChecksMinutes},
		{"cmlReadyMinutes", t.CMLReadyMinutes}, {"totalMinutes", t.TotalMinutes}} {
		if c.value < 1 || c.value > 24*60 {
			return invalid("provisioning.timeouts."+c.field, "must be between 1 and 1440 minutes")
		}
		if c.value > t.TotalMinutes {
			return invalid("provisioning.timeouts."+c.field, "must not exceed totalMinutes")
		}
	}
	switch {
	case t.EC2PollSeconds < 1 || t.EC2PollSeconds >= t.RunningMinutes*60:
		return invalid("provisioning.timeouts.ec2PollSeconds", "must be positive and shorter than runningMinutes")
	case t.CMLPollSeconds < 1 || t.CMLPollSeconds >= t.CMLReadyMinutes*60:
		return invalid("provisioning.timeouts.cmlPollSeconds", "must be positive and shorter than cmlReadyMinutes")
	}

	for _, c := range []struct {
		field string
		value int
	}{{"metricsSeconds", v.Intervals.MetricsSeconds}, {"labsRefreshSeconds", v.Intervals.LabsRefreshSeconds},
		{"idleCheckSeconds", v.Intervals.IdleCheckSeconds}, {"discoverySeconds", v.Intervals.DiscoverySeconds}} {
		if c.value < 1 || c.value > MaxIntervalSeconds {
			return invalid("intervals."+c.field, fmt.Sprintf("must be between 1 and %d seconds", MaxIntervalSeconds))
		}
	}

	d := v.Discovery
	for i, r := range d.Regions {
		if !regionRE.MatchString(r) {
			return invalid(fmt.Sprintf("discovery.regions[%d]", i), fmt.Sprintf("%q is not an AWS region", r))
		}
		if slices.Index(d.Regions, r) != i {
			return invalid(fmt.Sprintf("discovery.regions[%d]", i), fmt.Sprintf("%q is repeated", r))
		}
	}
	switch {
	case d.TagValue != "" && d.TagKey == "":
		return invalid("discovery.tagKey", "is required with a tag value")
	case len(d.TagKey) > 128 || len(d.TagValue) > 256 || len(d.AMINamePattern) > 128:
		return invalid("discovery", "tag key, tag value or AMI name pattern is too long")
	case d.Enabled && len(d.Regions) == 0:
		return invalid("discovery.regions", "are required when discovery is enabled")
	case d.Enabled && d.TagKey == "" && d.AMINamePattern == "":
		return invalid("discovery", "needs a tag key or an AMI name pattern when enabled")
	}

	if err := v.IdlePolicy.Validate(); err != nil {
		if fe, ok := err.(*idle.FieldError); ok {
			return invalid("idlePolicy."+fe.Field, fe.Reason)
		}
		return invalid("idlePolicy", err.Error())
	}
	for _, it := range slices.Sorted(maps.Keys(v.Prices)) {
		price := v.Prices[it]
		switch {
		case !instanceTypeRE.MatchString(it):
			return invalid("prices."+it, "is not keyed by an instance type")
		case price < 0 || price > MaxPrice:
			return invalid("prices."+it, fmt.Sprintf("must be between 0 and %g dollars an hour", MaxPrice))
		}
	}
	switch {
	case v.TelemetryRetentionDays < 1 || v.TelemetryRetentionDays > 365:
		return invalid("telemetryRetentionDays", "must be between 1 and 365")
	case v.License.PollSeconds < 1:
		return invalid("license.pollSeconds", "must be positive")
	case v.License.TimeoutSeconds <= v.License.PollSeconds || v.License.TimeoutSeconds > 3600:
		return invalid("license.timeoutSeconds", "must exceed pollSeconds and be at most 3600")
	}
	return nil
}

func validateLists(field string, m map[string][]string, re *regexp.Regexp, what string) error {
	for _, region := range slices.Sorted(maps.Keys(m)) {
		if !regionRE.MatchString(region) {
			return invalid(field+"."+region, "is not keyed by an AWS region")
		}
		for i, id := range m[region] {
			if !re.MatchString(id) {
				return invalid(fmt.Sprintf("%s.%s[%d]", field, region, i), fmt.Sprintf("%q is not a %s", id, what))
			}
			if slices.Index(m[region], id) != i {
				return invalid(fmt.Sprintf("%s.%s[%d]", field, region, i), fmt.Sprintf("%q is repeated", id))
			}
		}
	}
	return nil
}
