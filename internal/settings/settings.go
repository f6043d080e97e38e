// Package settings holds the fleet settings as an event-sourced singleton
// (aggregate id ID): launch defaults per region, job intervals, discovery,
// the fleet idle policy, instance prices, telemetry retention and licence
// polling. The tick reads them on every run, so a change needs no redeploy.
//
// An aggregate with no history holds Defaults(). The one command, Update,
// takes an RFC 7386 JSON merge patch of the settings' JSON, validates the
// result strictly (unknown fields, wrong types and out-of-range values are
// a *ValidationError), and records cml.settings.updated.v1 carrying only
// what changed, as a merge patch plus the JSON pointers of the changed
// values. Because history starts from Defaults() and the first update is an
// ordinary update, the API creates the stream with Repository.Create and
// uses Repository.Update afterwards.
package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/cmlcm/cmlcm/internal/event"
)

// ID is the aggregate id of the fleet settings.
const ID = "fleet-settings"

// AggregateType is the event.Root aggregate type of the settings.
const AggregateType = "settings"

// SnapshotSchema is the version of the snapshot layout. Bump it when
// Values change incompatibly or when a default changes (see Defaults).
const SnapshotSchema = 1

// TypeUpdated is the type of the settings' only event.
const TypeUpdated = "cml.settings.updated.v1"

// Updated: the settings changed. Changes is a JSON merge patch holding only
// the changed values (null deletes a map entry); Changed lists their JSON
// pointers, e.g. "/intervals/metricsSeconds", "/prices/m5zn.metal".
type Updated struct {
	Changes json.RawMessage `json:"changes"`
	Changed []string        `json:"changed"`
}

// EventType implements event.Payload.
func (*Updated) EventType() string { return TypeUpdated }

// Registry decodes the settings' events.
var Registry = event.Registry{}

func init() { Registry.Register(func() event.Payload { return new(Updated) }) }

// ErrInvalid is matched by every *ValidationError.
var ErrInvalid = errors.New("invalid settings")

// ValidationError rejects a patch or values.
type ValidationError struct {
	Field  string // dotted path, e.g. "intervals.metricsSeconds"
	Reason string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return "invalid settings: " + e.Reason
	}
	return fmt.Sprintf("invalid settings: %s %s", e.Field, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }

// Settings is the aggregate. Create it with New.
type Settings struct {
	event.Root
	s state
}

type state struct {
	Values    Values    `json:"values"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
	UpdatedBy string    `json:"updatedBy,omitempty"`
}

// New returns settings holding Defaults(), under the given id (ID for the
// fleet; the signature fits eventstore.NewRepository).
func New(id string) *Settings {
	s := &Settings{s: state{Values: Defaults()}}
	s.Init(AggregateType, id)
	return s
}

// Values returns a copy of the current settings.
func (s *Settings) Values() Values { return s.s.Values.Clone() }

// Update applies a JSON merge patch (RFC 7386) to the settings. The patch
// must be a JSON object; the result is decoded strictly and validated. A
// patch that changes nothing records nothing.
func (s *Settings) Update(patch json.RawMessage) error {
	var p any
	dec := json.NewDecoder(bytes.NewReader(patch))
	dec.UseNumber()
	if err := dec.Decode(&p); err != nil {
		return invalid("", "the patch is not JSON: "+err.Error())
	}
	if dec.More() {
		return invalid("", "the patch holds more than one JSON value")
	}
	if _, ok := p.(map[string]any); !ok {
		return invalid("", "the patch must be a JSON object")
	}
	cur, err := toJSONValue(s.s.Values)
	if err != nil {
		return err
	}
	next, err := decodeValues(mergePatch(cur, p), true)
	if err != nil {
		return err
	}
	return s.Replace(next)
}

// Replace sets the settings to v (validated), recording only the changes.
func (s *Settings) Replace(v Values) error {
	normalise(&v)
	if err := v.Validate(); err != nil {
		return err
	}
	cur, err := toJSONValue(s.s.Values)
	if err != nil {
		return err
	}
	next, err := toJSONValue(v)
	if err != nil {
		return err
	}
	var changed []string
	changes := diffPatch(cur.(map[string]any), next.(map[string]any), "", &changed)
	if len(changed) == 0 {
		return nil
	}
	slices.Sort(changed)
	b, err := json.Marshal(changes)
	if err != nil {
		return fmt.Errorf("settings update: %w", err)
	}
	return s.Record(&Updated{Changes: b, Changed: changed}, s.apply)
}

// apply is the only code that changes the state.
func (s *Settings) apply(e event.Event, p event.Payload) {
	s.s.UpdatedAt, s.s.UpdatedBy = e.Time, e.Actor
	switch p := p.(type) {
	case *Updated:
		var patch any
		cur, err := toJSONValue(s.s.Values)
		if err == nil {
			err = json.Unmarshal(p.Changes, &patch)
		}
		if err != nil {
			return // cannot happen: Replace produced both from valid values
		}
		if v, err := decodeValues(mergePatch(cur, patch), false); err == nil {
			s.s.Values = v
		}
	}
}

// ReplayEvent implements eventstore.Aggregate.
func (s *Settings) ReplayEvent(e event.Event) error { return s.Replay(e, Registry, s.apply) }

// SnapshotState implements eventstore.Aggregate.
func (s *Settings) SnapshotState() (int, json.RawMessage, error) {
	b, err := json.Marshal(s.s)
	if err != nil {
		return 0, nil, fmt.Errorf("snapshot settings: %w", err)
	}
	return SnapshotSchema, b, nil
}

// RestoreSnapshot implements eventstore.Aggregate.
func (s *Settings) RestoreSnapshot(schema int, version int64, data json.RawMessage) error {
	if schema != SnapshotSchema {
		return fmt.Errorf("settings snapshot schema %d, want %d: %w", schema, SnapshotSchema, event.ErrSnapshotSchema)
	}
	var st state
	if err := json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("settings snapshot: %w", err)
	}
	normalise(&st.Values)
	s.s = st
	s.SetVersion(version)
	return nil
}

// View is the settings as the API shows them.
type View struct {
	Values
	UpdatedAt *time.Time `json:"updatedAt"`
	UpdatedBy string     `json:"updatedBy"`
	Version   int64      `json:"version"`
}

// View returns the settings' representation.
func (s *Settings) View() View {
	v := View{Values: s.s.Values.Clone(), UpdatedBy: s.s.UpdatedBy, Version: s.Version()}
	if !s.s.UpdatedAt.IsZero() {
		t := s.s.UpdatedAt
		v.UpdatedAt = &t
	}
	return v
}

// normalise makes absent maps and lists empty, so the JSON has one shape
// and a null in a patch resets a map.
func normalise(v *Values) {
	p := &v.Provisioning
	if p.AMIs == nil {
		p.AMIs = map[string]AMI{}
	}
	if p.Subnets == nil {
		p.Subnets = map[string][]string{}
	}
	if p.SecurityGroups == nil {
		p.SecurityGroups = map[string][]string{}
	}
	for k, l := range p.Subnets {
		if l == nil {
			p.Subnets[k] = []string{}
		}
	}
	for k, l := range p.SecurityGroups {
		if l == nil {
			p.SecurityGroups[k] = []string{}
		}
	}
	if v.Discovery.Regions == nil {
		v.Discovery.Regions = []string{}
	}
	if v.Prices == nil {
		v.Prices = map[string]float64{}
	}
}

func toJSONValue(v Values) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	var out any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("encode settings: %w", err)
	}
	return out, nil
}

// decodeValues turns a merged JSON value into Values. Strict decoding
// rejects unknown fields and wrong types with a ValidationError.
func decodeValues(merged any, strict bool) (Values, error) {
	b, err := json.Marshal(merged)
	if err != nil {
		return Values{}, invalid("", err.Error())
	}
	var v Values
	dec := json.NewDecoder(bytes.NewReader(b))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(&v); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return Values{}, invalid(te.Field, fmt.Sprintf("has the wrong type (want %s)", jsonKind(te.Type.Kind())))
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return Values{}, invalid(name, "is not a setting")
		}
		return Values{}, invalid("", err.Error())
	}
	normalise(&v)
	return v, nil
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.String:
		return "string"
	case reflect.Slice, reflect.Array:
		return "list"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return k.String()
}

// mergePatch applies an RFC 7386 merge patch to target.
func mergePatch(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if ok {
		t = maps.Clone(t)
	} else {
		t = map[string]any{}
	}
	for k, v := range p {
		if v == nil {
			delete(t, k)
			continue
		}
		t[k] = mergePatch(t[k], v)
	}
	return t
}

// diffPatch returns the smallest merge patch turning a into b, and appends
// the JSON pointers of the changed values to changed.
func diffPatch(a, b map[string]any, path string, changed *[]string) map[string]any {
	out := map[string]any{}
	for k, bv := range b {
		p := path + "/" + strings.NewReplacer("~", "~0", "/", "~1").Replace(k)
		av, had := a[k]
		am, aIsObj := av.(map[string]any)
		bm, bIsObj := bv.(map[string]any)
		switch {
		case had && aIsObj && bIsObj:
			if sub := diffPatch(am, bm, p, changed); len(sub) > 0 {
				out[k] = sub
			}
		case !had || !reflect.DeepEqual(av, bv):
			out[k] = bv
			*changed = append(*changed, p)
		}
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			out[k] = nil
			*changed = append(*changed, path+"/"+strings.NewReplacer("~", "~0", "/", "~1").Replace(k))
		}
	}
	return out
}
