// Package events holds the JSON Schemas (draft 2020-12) of every domain
// event the product emits: schemas/envelope.json for the envelope every
// event travels in, and schemas/<type>.json for the data of each event
// type. They are the contract of the integration events published on the
// bus. Validate checks an event against both.
package events

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/cmlcm/cmlcm/internal/event"
)

//go:embed schemas/*.json
var schemaFS embed.FS

// FS is the embedded schemas directory (files under "schemas/").
var FS fs.FS = schemaFS

// BaseURL is the $id prefix of every schema.
const BaseURL = "https://github.com/cmlcm/cmlcm/events/schemas/"

// EnvelopeFile is the schema file of the envelope.
const EnvelopeFile = "envelope.json"

// ErrNoSchema means an event type has no schema file.
var ErrNoSchema = errors.New("no schema for event type")

// Types lists the event types that have a schema, sorted.
func Types() []string {
	entries, _ := fs.ReadDir(schemaFS, "schemas") // embedded: cannot fail
	var out []string
	for _, e := range entries {
		name := e.Name()
		if name == EnvelopeFile || path.Ext(name) != ".json" {
			continue
		}
		out = append(out, strings.TrimSuffix(name, ".json"))
	}
	slices.Sort(out)
	return out
}

// Schema returns the schema document of an event type ("envelope" for the
// envelope).
func Schema(eventType string) ([]byte, error) {
	b, err := fs.ReadFile(schemaFS, "schemas/"+eventType+".json")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", eventType, ErrNoSchema)
	}
	return b, nil
}

type compiled struct {
	envelope *jsonschema.Schema
	data     map[string]*jsonschema.Schema
}

var load = sync.OnceValues(func() (*compiled, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	entries, err := fs.ReadDir(schemaFS, "schemas")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		b, err := fs.ReadFile(schemaFS, "schemas/"+e.Name())
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", e.Name(), err)
		}
		if err := c.AddResource(BaseURL+e.Name(), doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", e.Name(), err)
		}
	}
	out := &compiled{data: map[string]*jsonschema.Schema{}}
	if out.envelope, err = c.Compile(BaseURL + EnvelopeFile); err != nil {
		return nil, fmt.Errorf("schema %s: %w", EnvelopeFile, err)
	}
	for _, t := range Types() {
		s, err := c.Compile(BaseURL + t + ".json")
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", t, err)
		}
		out.data[t] = s
	}
	return out, nil
})

// Validate checks an event's envelope and its data against their schemas.
func Validate(e event.Event) error {
	c, err := load()
	if err != nil {
		return err
	}
	env, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode %s: %w", e.Type, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(env))
	if err != nil {
		return fmt.Errorf("decode %s: %w", e.Type, err)
	}
	if err := c.envelope.Validate(doc); err != nil {
		return fmt.Errorf("%s v%d of %s: envelope: %w", e.Type, e.Version, e.AggregateID, err)
	}
	s, ok := c.data[e.Type]
	if !ok {
		return fmt.Errorf("%s: %w", e.Type, ErrNoSchema)
	}
	data, err := jsonschema.UnmarshalJSON(bytes.NewReader(e.Data))
	if err != nil {
		return fmt.Errorf("decode %s data: %w", e.Type, err)
	}
	if err := s.Validate(data); err != nil {
		return fmt.Errorf("%s v%d of %s: data: %w", e.Type, e.Version, e.AggregateID, err)
	}
	return nil
}
