package cml

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Lab states.
const (
	LabDefined = "DEFINED_ON_CORE"
	LabStopped = "STOPPED"
	LabStarted = "STARTED"
)

// Lab is GET /labs/{id} (LabResponse).
type Lab struct {
	ID                   string   `json:"id"`
	Title                string   `json:"lab_title"`
	Description          string   `json:"lab_description"`
	Notes                string   `json:"lab_notes"`
	State                string   `json:"state"`
	Owner                string   `json:"owner"`
	OwnerUsername        string   `json:"owner_username"`
	OwnerFullname        string   `json:"owner_fullname"`
	NodeCount            int      `json:"node_count"`
	LinkCount            int      `json:"link_count"`
	Created              string   `json:"created"`
	Modified             string   `json:"modified"`
	EffectivePermissions []string `json:"effective_permissions"`
}

func labPath(id string, suffix string) string {
	p := "labs/" + url.PathEscape(id)
	if suffix != "" {
		p += "/" + suffix
	}
	return p
}

// LabIDs lists the ids of every lab on the controller (show_all=true: all
// users' labs, for an admin).
func (c *Client) LabIDs(ctx context.Context) ([]string, error) {
	var ids []string
	return ids, c.getJSON(ctx, "labs?show_all=true", &ids)
}

// Labs lists every lab with its details. A lab deleted between the
// listing and its read is skipped.
func (c *Client) Labs(ctx context.Context) ([]Lab, error) {
	ids, err := c.LabIDs(ctx)
	if err != nil {
		return nil, err
	}
	labs := make([]Lab, 0, len(ids))
	for _, id := range ids {
		l, err := c.Lab(ctx, id)
		if err != nil {
			if isNotFound(err) {
				continue
			}
			return nil, err
		}
		labs = append(labs, l)
	}
	return labs, nil
}

// Lab reads one lab.
func (c *Client) Lab(ctx context.Context, id string) (Lab, error) {
	var l Lab
	return l, c.getJSON(ctx, labPath(id, ""), &l)
}

// LabState reads a lab's state (DEFINED_ON_CORE, STOPPED or STARTED).
func (c *Client) LabState(ctx context.Context, id string) (string, error) {
	var s string
	return s, c.getJSON(ctx, labPath(id, "state"), &s)
}

// LabConverged reports whether no node of the lab is still in transition.
func (c *Client) LabConverged(ctx context.Context, id string) (bool, error) {
	var b bool
	return b, c.getJSON(ctx, labPath(id, "check_if_converged"), &b)
}

// WaitLabConverged polls check_if_converged every interval until it is
// true or ctx ends.
func (c *Client) WaitLabConverged(ctx context.Context, id string, interval time.Duration) error {
	if interval <= 0 {
		interval = 2 * time.Second
	}
	for {
		ok, err := c.LabConverged(ctx, id)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cml: lab %s did not converge: %w", id, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// ImportResult is POST /import's reply.
type ImportResult struct {
	ID       string   `json:"id"`
	Warnings []string `json:"warnings"`
}

// ImportLab creates a lab from topology YAML; a non-empty title overrides
// the one in the YAML. The body goes as is with no Content-Type, like
// Cisco's client sends it: CML parses it as YAML whatever the header says.
// Not retried (a retry after a lost reply would create a second lab).
func (c *Client) ImportLab(ctx context.Context, topologyYAML []byte, title string) (ImportResult, error) {
	path := "import"
	if title != "" {
		path += "?title=" + url.QueryEscape(title)
	}
	var res ImportResult
	resp, err := c.do(ctx, request{method: http.MethodPost, path: path, body: topologyYAML})
	if err != nil {
		return res, err
	}
	if err := decode(http.MethodPost, "import", resp.body, &res); err != nil {
		return res, err
	}
	if res.ID == "" {
		return res, fmt.Errorf("cml: POST import: reply has no lab id")
	}
	return res, nil
}

// StartLab starts every node of the lab (asynchronously on the
// controller; see WaitLabConverged). ErrBadRequest when CML refuses, e.g.
// beyond the licensed node count.
func (c *Client) StartLab(ctx context.Context, id string) error {
	return c.putState(ctx, id, "start")
}

// StopLab stops every node; disks are kept.
func (c *Client) StopLab(ctx context.Context, id string) error { return c.putState(ctx, id, "stop") }

// WipeLab discards node disks; the lab must be stopped (ErrBadRequest
// otherwise).
func (c *Client) WipeLab(ctx context.Context, id string) error { return c.putState(ctx, id, "wipe") }

// putState runs PUT start|stop|wipe. These are idempotent on CML, so they
// are retried like GETs.
func (c *Client) putState(ctx context.Context, id, action string) error {
	_, err := c.do(ctx, request{method: http.MethodPut, path: labPath(id, action), idempotent: true})
	return err
}

// DeleteLab removes a lab; CML requires it stopped and wiped first
// (ErrBadRequest otherwise), ErrNotFound when it does not exist.
func (c *Client) DeleteLab(ctx context.Context, id string) error {
	_, err := c.do(ctx, request{method: http.MethodDelete, path: labPath(id, "")})
	return err
}

// DownloadLab returns the lab as topology YAML, ready for ImportLab.
func (c *Client) DownloadLab(ctx context.Context, id string) ([]byte, error) {
	resp, err := c.do(ctx, request{method: http.MethodGet, path: labPath(id, "download"), idempotent: true})
	if err != nil {
		return nil, err
	}
	return resp.body, nil
}

func isNotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}
