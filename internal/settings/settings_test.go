package settings

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
	"github.com/cmlcm/cmlcm/internal/eventstore"
)

var _ eventstore.Aggregate = (*Settings)(nil)

var t0 = time.Date(2025, 3, 10, 8, 0, 0, 0, time.UTC)

func TestDefaults(t *testing.T) {
	d := Defaults()
	if err := d.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"metrics 300s", d.Intervals.MetricsSeconds == 300},
		{"labs 1800s", d.Intervals.LabsRefreshSeconds == 1800},
		{"idle check 60s", d.Intervals.IdleCheckSeconds == 60},
		{"discovery 3600s, off", d.Intervals.DiscoverySeconds == 3600 && !d.Discovery.Enabled},
		{"idle 60/10/60", d.IdlePolicy.Enabled && d.IdlePolicy.TimeoutMinutes == 60 && d.IdlePolicy.WarningMinutes == 10 && d.IdlePolicy.SnoozeMinutes == 60},
		{"retention 14 days", d.TelemetryRetentionDays == 14},
		{"licence 5s/90s", d.License.PollSeconds == 5 && d.License.TimeoutSeconds == 90},
		{"m5zn.metal price", d.Prices["m5zn.metal"] == 3.964},
		{"m7i.metal-24xl price", d.Prices["m7i.metal-24xl"] == 4.8384},
		{"t3.xlarge price", d.Prices["t3.xlarge"] == 0.1664},
		{"instance type", d.Provisioning.InstanceType == "m5zn.metal"},
		{"total timeout 45m", d.Provisioning.Timeouts.TotalMinutes == 45},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("default %s", c.name)
		}
	}
	if s := New(ID); s.Version() != 0 || s.Values().Intervals.MetricsSeconds != 300 {
		t.Fatal("a new aggregate does not hold the defaults")
	}
}

func update(t *testing.T, s *Settings, patch string) error {
	t.Helper()
	s.Begin(event.Meta{Actor: "admin", Time: t0.Add(time.Duration(s.Version()+1) * time.Minute)})
	return s.Update(json.RawMessage(patch))
}

func TestUpdate(t *testing.T) {
	tests := []struct {
		name    string
		patch   string
		field   string   // ValidationError field; "" = valid
		changed []string // nil = no event
		check   func(t *testing.T, v Values)
	}{
		{"interval", `{"intervals":{"metricsSeconds":120}}`, "", []string{"/intervals/metricsSeconds"}, func(t *testing.T, v Values) {
			if v.Intervals.MetricsSeconds != 120 || v.Intervals.LabsRefreshSeconds != 1800 {
				t.Fatalf("intervals %+v", v.Intervals)
			}
		}},
		{"unchanged", `{"intervals":{"metricsSeconds":300}}`, "", nil, nil},
		{"empty patch", `{}`, "", nil, nil},
		{"price added and removed", `{"prices":{"x2iezn.metal":13.344,"t3.medium":null}}`, "",
			[]string{"/prices/t3.medium", "/prices/x2iezn.metal"}, func(t *testing.T, v Values) {
				if _, ok := v.Prices["t3.medium"]; ok || v.Prices["x2iezn.metal"] != 13.344 || v.Prices["m5zn.metal"] != 3.964 {
					t.Fatalf("prices %v", v.Prices)
				}
			}},
		{"region defaults", `{"provisioning":{"amis":{"eu-west-3":{"id":"ami-0123456789abcdef0","name":"cml-2.9"}},
			"subnets":{"eu-west-3":["subnet-0aa","subnet-0bb"]},"securityGroups":{"eu-west-3":["sg-0cc"]},"keyPairName":"cml"}}`, "",
			[]string{"/provisioning/amis/eu-west-3", "/provisioning/keyPairName", "/provisioning/securityGroups/eu-west-3", "/provisioning/subnets/eu-west-3"},
			func(t *testing.T, v Values) {
				if a, ok := v.AMIFor("eu-west-3"); !ok || a.ID != "ami-0123456789abcdef0" {
					t.Fatalf("ami %+v", a)
				}
				if !slices.Equal(v.Provisioning.Subnets["eu-west-3"], []string{"subnet-0aa", "subnet-0bb"}) {
					t.Fatalf("subnets %v", v.Provisioning.Subnets)
				}
			}},
		{"idle policy", `{"idlePolicy":{"timeoutMinutes":30,"warningMinutes":5,"cpuThresholdPercent":15}}`, "",
			[]string{"/idlePolicy/cpuThresholdPercent", "/idlePolicy/timeoutMinutes", "/idlePolicy/warningMinutes"}, func(t *testing.T, v Values) {
				if v.IdlePolicy.TimeoutMinutes != 30 || v.IdlePolicy.CPUThresholdPercent == nil || *v.IdlePolicy.CPUThresholdPercent != 15 {
					t.Fatalf("policy %+v", v.IdlePolicy)
				}
			}},
		{"discovery", `{"discovery":{"enabled":true,"regions":["us-east-1"],"amiNamePattern":"cisco-cml2.9-lablet-*"}}`, "",
			[]string{"/discovery/amiNamePattern", "/discovery/enabled", "/discovery/regions"}, nil},

		{"not an object", `[1]`, "", nil, nil},
		{"not JSON", `{`, "", nil, nil},
		{"unknown field", `{"intervals":{"metricSeconds":120}}`, "metricSeconds", nil, nil},
		{"unknown top field", `{"color":"blue"}`, "color", nil, nil},
		{"wrong type", `{"intervals":{"metricsSeconds":"often"}}`, "intervals.metricsSeconds", nil, nil},
		{"fractional seconds", `{"intervals":{"metricsSeconds":1.5}}`, "intervals.metricsSeconds", nil, nil},
		{"zero interval", `{"intervals":{"idleCheckSeconds":0}}`, "intervals.idleCheckSeconds", nil, nil},
		{"negative interval", `{"intervals":{"labsRefreshSeconds":-1}}`, "intervals.labsRefreshSeconds", nil, nil},
		{"warning not below timeout", `{"idlePolicy":{"timeoutMinutes":10,"warningMinutes":10}}`, "idlePolicy.warningMinutes", nil, nil},
		{"licence timeout below poll", `{"license":{"pollSeconds":10,"timeoutSeconds":5}}`, "license.timeoutSeconds", nil, nil},
		{"step longer than total", `{"provisioning":{"timeouts":{"cmlReadyMinutes":50}}}`, "provisioning.timeouts.cmlReadyMinutes", nil, nil},
		{"bad subnet", `{"provisioning":{"subnets":{"us-east-1":["net-1"]}}}`, "provisioning.subnets.us-east-1[0]", nil, nil},
		{"repeated subnet", `{"provisioning":{"subnets":{"us-east-1":["subnet-1","subnet-1"]}}}`, "provisioning.subnets.us-east-1[1]", nil, nil},
		{"bad region key", `{"provisioning":{"amis":{"paris":{"id":"ami-1"}}}}`, "provisioning.amis.paris", nil, nil},
		{"ami without id or name", `{"provisioning":{"amis":{"us-east-1":{}}}}`, "provisioning.amis.us-east-1", nil, nil},
		{"negative price", `{"prices":{"m5zn.metal":-1}}`, "prices.m5zn.metal", nil, nil},
		{"discovery without filter", `{"discovery":{"enabled":true,"regions":["us-east-1"]}}`, "discovery", nil, nil},
		{"discovery without region", `{"discovery":{"enabled":true,"tagKey":"cml"}}`, "discovery.regions", nil, nil},
		{"retention", `{"telemetryRetentionDays":0}`, "telemetryRetentionDays", nil, nil},
		{"bad instance type", `{"provisioning":{"instanceType":"big"}}`, "provisioning.instanceType", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(ID)
			err := update(t, s, tt.patch)
			invalidPatch := tt.name == "not an object" || tt.name == "not JSON"
			if tt.field != "" || invalidPatch {
				var ve *ValidationError
				if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) || (!invalidPatch && ve.Field != tt.field) {
					t.Fatalf("Update() = %v, want a ValidationError on %q", err, tt.field)
				}
				if len(s.Pending()) != 0 || s.Values().Intervals.MetricsSeconds != 300 {
					t.Fatal("a rejected update changed the settings")
				}
				return
			}
			if err != nil {
				t.Fatalf("Update() = %v", err)
			}
			if tt.changed == nil {
				if len(s.Pending()) != 0 {
					t.Fatalf("recorded %s", s.Pending()[0].Data)
				}
				return
			}
			if len(s.Pending()) != 1 || s.Pending()[0].Type != TypeUpdated {
				t.Fatalf("events %v", s.Pending())
			}
			var u Updated
			if err := json.Unmarshal(s.Pending()[0].Data, &u); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(u.Changed, tt.changed) {
				t.Fatalf("changed %v, want %v", u.Changed, tt.changed)
			}
			if tt.check != nil {
				tt.check(t, s.Values())
			}
			if v := s.View(); v.UpdatedBy != "admin" || v.UpdatedAt == nil || v.Version != 1 {
				t.Fatalf("view %+v", v)
			}
		})
	}
}

func TestUpdatedCarriesOnlyChanges(t *testing.T) {
	s := New(ID)
	if err := update(t, s, `{"intervals":{"metricsSeconds":120,"labsRefreshSeconds":1800},"telemetryRetentionDays":14}`); err != nil {
		t.Fatal(err)
	}
	var u struct {
		Changes map[string]any `json:"changes"`
	}
	if err := json.Unmarshal(s.Pending()[0].Data, &u); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(u.Changes)
	if string(b) != `{"intervals":{"metricsSeconds":120}}` {
		t.Fatalf("changes %s", b)
	}
}

func TestReplace(t *testing.T) {
	s := New(ID)
	v := s.Values()
	v.Prices = nil
	v.Discovery.Regions = nil
	s.Begin(event.Meta{Actor: "admin", Time: t0})
	if err := s.Replace(v); err != nil {
		t.Fatal(err)
	}
	var u Updated
	_ = json.Unmarshal(s.Pending()[0].Data, &u)
	if len(u.Changed) != len(DefaultPrices()) || len(s.Values().Prices) != 0 || s.Values().Discovery.Regions == nil {
		t.Fatalf("changed %v prices %v", u.Changed, s.Values().Prices)
	}
	v.Intervals.MetricsSeconds = 0
	if err := s.Replace(v); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Replace(invalid) = %v", err)
	}
}

func TestReplayAndSnapshot(t *testing.T) {
	s := New(ID)
	for _, p := range []string{
		`{"intervals":{"metricsSeconds":120}}`,
		`{"prices":{"x2iezn.metal":13.344,"t3.medium":null}}`,
		`{"provisioning":{"amis":{"us-east-1":{"name":"cml-*"}},"subnets":{"us-east-1":["subnet-1","subnet-2"]}}}`,
		`{"provisioning":{"subnets":{"us-east-1":["subnet-2"]}},"idlePolicy":{"enabled":false}}`,
		`{"provisioning":{"amis":null}}`,
		`{"discovery":{"enabled":true,"regions":["eu-west-1"],"tagKey":"lab","tagValue":"cml"}}`,
	} {
		if err := update(t, s, p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	want, _ := json.Marshal(s.View())
	if !strings.Contains(string(want), `"subnets":{"us-east-1":["subnet-2"]}`) || !strings.Contains(string(want), `"amis":{}`) {
		t.Fatalf("view %s", want)
	}

	fresh := New(ID)
	for _, e := range s.Pending() {
		b, _ := json.Marshal(e)
		var back event.Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := fresh.ReplayEvent(back); err != nil {
			t.Fatal(err)
		}
	}
	if got, _ := json.Marshal(fresh.View()); string(got) != string(want) {
		t.Fatalf("replayed\n got %s\nwant %s", got, want)
	}

	schema, state, err := s.SnapshotState()
	if err != nil {
		t.Fatal(err)
	}
	restored := New(ID)
	if err := restored.RestoreSnapshot(schema, s.Version(), state); err != nil {
		t.Fatal(err)
	}
	if got, _ := json.Marshal(restored.View()); string(got) != string(want) {
		t.Fatalf("restored\n got %s\nwant %s", got, want)
	}
	if err := New(ID).RestoreSnapshot(schema+1, 1, state); !errors.Is(err, event.ErrSnapshotSchema) {
		t.Fatalf("unknown schema: %v", err)
	}
}

func TestValuesAreCopies(t *testing.T) {
	s := New(ID)
	v := s.Values()
	v.Prices["m5zn.metal"] = 0
	v.Provisioning.Subnets["x"] = []string{"y"}
	if s.Values().Prices["m5zn.metal"] != 3.964 || len(s.Values().Provisioning.Subnets) != 0 {
		t.Fatal("Values shares maps with the aggregate")
	}
	if p, ok := s.Values().Price("c5n.metal"); !ok || p != 3.888 {
		t.Fatal("Price")
	}
	if Every(60) != time.Minute {
		t.Fatal("Every")
	}
}
