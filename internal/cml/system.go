package cml

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"time"
)

// SystemInformation is GET /system_information (no authentication).
type SystemInformation struct {
	Version            string  `json:"version"`
	Ready              bool    `json:"ready"`
	AllowSSHPubkeyAuth bool    `json:"allow_ssh_pubkey_auth"`
	OUI                *string `json:"oui"`
}

// SemVer parses Version as virl2-client does (^(\d+)\.(\d+)\.(\d+)(.*)$;
// suffixes such as "+build.3" allowed).
func (s SystemInformation) SemVer() (major, minor, patch int, ok bool) {
	m := versionRE.FindStringSubmatch(s.Version)
	if m == nil {
		return 0, 0, 0, false
	}
	major, _ = strconv.Atoi(m[1])
	minor, _ = strconv.Atoi(m[2])
	patch, _ = strconv.Atoi(m[3])
	return major, minor, patch, true
}

var versionRE = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)(.*)$`)

// SystemInformation reads the controller's version and readiness. It needs
// no credentials, so it is the cheapest "is the API up" probe.
func (c *Client) SystemInformation(ctx context.Context) (SystemInformation, error) {
	var si SystemInformation
	resp, err := c.do(ctx, request{method: http.MethodGet, path: "system_information", noAuth: true, idempotent: true})
	if err != nil {
		return si, err
	}
	return si, decode(http.MethodGet, "system_information", resp.body, &si)
}

// WaitReady polls system_information every interval until ready is true.
// When ctx ends first it returns an error that is ErrUnavailable (and the
// context's error), with the last answer.
func (c *Client) WaitReady(ctx context.Context, interval time.Duration) (SystemInformation, error) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	var last SystemInformation
	var lastErr error
	for {
		si, err := c.SystemInformation(ctx)
		if err == nil && si.Ready {
			return si, nil
		}
		if err == nil {
			last, lastErr = si, nil
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return last, fmt.Errorf("cml: controller not ready: %w", errors.Join(ErrUnavailable, ctx.Err(), lastErr))
			}
			return last, fmt.Errorf("cml: controller not ready (version %q): %w", last.Version, errors.Join(ErrUnavailable, ctx.Err()))
		case <-time.After(interval):
		}
	}
}

// SystemHealth is GET /system_health.
type SystemHealth struct {
	Valid        *bool                    `json:"valid"`
	IsLicensed   *bool                    `json:"is_licensed"`
	IsEnterprise bool                     `json:"is_enterprise"`
	Controller   ControllerHealth         `json:"controller"`
	Computes     map[string]ComputeHealth `json:"computes"`
}

// ControllerHealth is the controller part of SystemHealth.
type ControllerHealth struct {
	CoreConnected bool `json:"core_connected"`
	NodesLoaded   bool `json:"nodes_loaded"`
	ImagesLoaded  bool `json:"images_loaded"`
	Valid         bool `json:"valid"`
}

// ComputeHealth is one compute host of SystemHealth. Nullable checks are
// pointers.
type ComputeHealth struct {
	Hostname               string `json:"hostname"`
	IsController           bool   `json:"is_controller"`
	AdmissionState         string `json:"admission_state"`
	KVMVMXEnabled          *bool  `json:"kvm_vmx_enabled"`
	EnoughCPUs             *bool  `json:"enough_cpus"`
	LLDConnected           bool   `json:"lld_connected"`
	LLDSynced              *bool  `json:"lld_synced"`
	Libvirt                *bool  `json:"libvirt"`
	Fabric                 *bool  `json:"fabric"`
	DeviceMux              *bool  `json:"device_mux"`
	RefplatImagesAvailable *bool  `json:"refplat_images_available"`
	DockerShim             *bool  `json:"docker_shim"`
	Valid                  *bool  `json:"valid"`
}

// Healthy reports the overall verdict (valid == true).
func (h SystemHealth) Healthy() bool { return h.Valid != nil && *h.Valid }

// SystemHealth reads the controller's health checks.
func (c *Client) SystemHealth(ctx context.Context) (SystemHealth, error) {
	var h SystemHealth
	return h, c.getJSON(ctx, "system_health", &h)
}

// SystemStats is GET /system_stats. Numbers are kept as CML sends them
// (memory and disk in bytes); Summary derives the figures the fleet
// manager charts.
type SystemStats struct {
	Computes   map[string]ComputeStats `json:"computes"`
	All        *HostStats              `json:"all"`
	Controller *struct {
		Disk Usage `json:"disk"`
	} `json:"controller"`
}

// ComputeStats is one compute host of SystemStats.
type ComputeStats struct {
	Hostname     string `json:"hostname"`
	IsController bool   `json:"is_controller"`
	Stats        struct {
		CPU     CPUStats `json:"cpu"`
		Memory  Usage    `json:"memory"`
		Disk    Usage    `json:"disk"`
		DomInfo DomInfo  `json:"dominfo"`
	} `json:"stats"`
}

// HostStats is the "all" totals of SystemStats.
type HostStats struct {
	CPU    CPUStats `json:"cpu"`
	Memory Usage    `json:"memory"`
	Disk   Usage    `json:"disk"`
}

// CPUStats is a CPU summary.
type CPUStats struct {
	Count   int       `json:"count"`
	Percent float64   `json:"percent"`
	Model   string    `json:"model,omitempty"`
	Load    []float64 `json:"load,omitempty"`
}

// Usage is used/free/total of memory or disk (bytes).
type Usage struct {
	Used  float64 `json:"used"`
	Free  float64 `json:"free"`
	Total float64 `json:"total"`
}

// Percent is used/total in percent (0 when total is unknown).
func (u Usage) Percent() float64 {
	if u.Total <= 0 {
		return 0
	}
	return 100 * u.Used / u.Total
}

// DomInfo counts the VMs ("domains") of a compute host.
type DomInfo struct {
	TotalNodes      *int `json:"total_nodes"`
	TotalOrphans    *int `json:"total_orphans"`
	RunningNodes    *int `json:"running_nodes"`
	RunningOrphans  *int `json:"running_orphans"`
	AllocatedCPUs   int  `json:"allocated_cpus"`
	AllocatedMemory int  `json:"allocated_memory"` // MiB
}

// Utilisation is the summary of SystemStats the fleet manager records.
type Utilisation struct {
	CPUPercent      float64
	MemoryPercent   float64
	DiskPercent     float64
	CPUs            int
	RunningNodes    int
	TotalNodes      int
	AllocatedCPUs   int
	AllocatedMemory int // MiB
}

// Summary sums node counts over computes and takes utilisation from "all"
// (falling back to the computes when a controller omits it), as the old
// fleet manager did.
func (s SystemStats) Summary() Utilisation {
	var u Utilisation
	var cpuWeighted float64
	var mem, disk Usage
	for _, c := range s.Computes {
		d := c.Stats.DomInfo
		if d.RunningNodes != nil {
			u.RunningNodes += *d.RunningNodes
		}
		if d.TotalNodes != nil {
			u.TotalNodes += *d.TotalNodes
		}
		u.AllocatedCPUs += d.AllocatedCPUs
		u.AllocatedMemory += d.AllocatedMemory
		u.CPUs += c.Stats.CPU.Count
		cpuWeighted += c.Stats.CPU.Percent * float64(c.Stats.CPU.Count)
		mem.Used, mem.Total = mem.Used+c.Stats.Memory.Used, mem.Total+c.Stats.Memory.Total
		disk.Used, disk.Total = disk.Used+c.Stats.Disk.Used, disk.Total+c.Stats.Disk.Total
	}
	if u.CPUs > 0 {
		u.CPUPercent = cpuWeighted / float64(u.CPUs)
	}
	u.MemoryPercent, u.DiskPercent = mem.Percent(), disk.Percent()
	if s.All != nil {
		u.CPUPercent = s.All.CPU.Percent
		if s.All.CPU.Count > 0 {
			u.CPUs = s.All.CPU.Count
		}
		if s.All.Memory.Total > 0 {
			u.MemoryPercent = s.All.Memory.Percent()
		}
		if s.All.Disk.Total > 0 {
			u.DiskPercent = s.All.Disk.Percent()
		}
	}
	return u
}

// SystemStats reads resource usage of the controller and its computes.
func (c *Client) SystemStats(ctx context.Context) (SystemStats, error) {
	var s SystemStats
	return s, c.getJSON(ctx, "system_stats", &s)
}
