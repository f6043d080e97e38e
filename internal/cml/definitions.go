package cml

import (
	"context"
	"encoding/json"
	"net/http"
)

// NodeDefinition is an entry of GET /node_definitions, reduced to what the
// fleet manager shows; Raw keeps the whole definition.
type NodeDefinition struct {
	ID          string
	Label       string
	Description string
	Nature      string
	Raw         json.RawMessage
}

// ImageDefinition is an entry of GET /image_definitions.
type ImageDefinition struct {
	ID               string          `json:"id"`
	NodeDefinitionID string          `json:"node_definition_id"`
	Label            string          `json:"label"`
	DiskImage        string          `json:"disk_image"`
	Description      string          `json:"description"`
	ReadOnly         bool            `json:"read_only"`
	Raw              json.RawMessage `json:"-"`
}

// NodeDefinitions lists the controller's node definitions.
func (c *Client) NodeDefinitions(ctx context.Context) ([]NodeDefinition, error) {
	var raw []json.RawMessage
	if err := c.getJSON(ctx, "node_definitions", &raw); err != nil {
		return nil, err
	}
	out := make([]NodeDefinition, 0, len(raw))
	for _, r := range raw {
		var d struct {
			ID      string `json:"id"`
			General struct {
				Nature      string `json:"nature"`
				Description string `json:"description"`
			} `json:"general"`
			UI struct {
				Label string `json:"label"`
			} `json:"ui"`
		}
		if err := decode(http.MethodGet, "node_definitions", r, &d); err != nil {
			return nil, err
		}
		out = append(out, NodeDefinition{ID: d.ID, Label: d.UI.Label, Description: d.General.Description, Nature: d.General.Nature, Raw: r})
	}
	return out, nil
}

// ImageDefinitions lists the controller's image definitions.
func (c *Client) ImageDefinitions(ctx context.Context) ([]ImageDefinition, error) {
	var raw []json.RawMessage
	if err := c.getJSON(ctx, "image_definitions", &raw); err != nil {
		return nil, err
	}
	out := make([]ImageDefinition, 0, len(raw))
	for _, r := range raw {
		var d ImageDefinition
		if err := decode(http.MethodGet, "image_definitions", r, &d); err != nil {
			return nil, err
		}
		d.Raw = r
		out = append(out, d)
	}
	return out, nil
}
