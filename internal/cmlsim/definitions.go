package cmlsim

import (
	"net/http"
	"slices"
	"strconv"
)

// nodeDef is one entry of the simulated node-definition catalogue: a
// handful of CML reference-platform definitions plus the custom ones the
// sample lab (shared/cml/sample-lab.yaml) uses.
type nodeDef struct {
	ID, Label, Description string
	Nature, Icon           string // DeviceNature / NodeDefIcons
	SimDriver              string // LinuxNativeSimulationDriverTypes
	DomainDriver           string // LibvirtDomainDrivers
	ConfigDriver           string // NodeDefinitionConfigurationDriverTypes; "" = none
	ConfigFile             string // provisioning file name; "" = none
	MediaType              string
	LabelPrefix            string
	Group                  string // Cisco | Others
	RAM, CPUs, DiskGiB     int    // defaults for a node of this type
	Interfaces             []string
	Loopback               bool
	SerialPorts            int
	BootTimeout            int
	BootCompleted          []string
	Images                 []imageDef
	// Unlicensed node types do not count against the licence's node limit.
	Unlicensed bool
}

type imageDef struct {
	ID, Label, DiskImage string
}

var nodeDefs = []nodeDef{
	{
		ID: "alpine", Label: "Alpine", Description: "Alpine Linux", Nature: "server", Icon: "server",
		SimDriver: "alpine", DomainDriver: "kvm", ConfigDriver: "alpine", ConfigFile: "node.cfg", MediaType: "iso",
		LabelPrefix: "alpine-", Group: "Others", RAM: 512, CPUs: 1, DiskGiB: 1,
		Interfaces: ethN("eth", 8), SerialPorts: 1, BootTimeout: 300, BootCompleted: []string{"Welcome to Alpine"},
		Images: []imageDef{{ID: "alpine-base-3-21-3", Label: "Alpine 3.21.3", DiskImage: "alpine-base-3-21-3.qcow2"}},
	},
	{
		ID: "iosv", Label: "IOSv", Description: "Cisco IOSv router", Nature: "router", Icon: "router",
		SimDriver: "iosv", DomainDriver: "kvm", ConfigDriver: "iosv", ConfigFile: "ios_config.txt", MediaType: "raw",
		LabelPrefix: "iosv-", Group: "Cisco", RAM: 512, CPUs: 1, DiskGiB: 1,
		Interfaces: ethN("GigabitEthernet0/", 8), Loopback: true, SerialPorts: 2, BootTimeout: 420,
		BootCompleted: []string{"CVAC-4-CONFIG_DONE"},
		Images:        []imageDef{{ID: "iosv-159-3-m9", Label: "IOSv 15.9(3)M9", DiskImage: "vios-adventerprisek9-m.spa.159-3.m9.qcow2"}},
	},
	{
		ID: "iosvl2", Label: "IOSvL2", Description: "Cisco IOSv L2 switch", Nature: "switch", Icon: "switch",
		SimDriver: "iosvl2", DomainDriver: "kvm", ConfigDriver: "iosvl2", ConfigFile: "ios_config.txt", MediaType: "raw",
		LabelPrefix: "switch-", Group: "Cisco", RAM: 768, CPUs: 1, DiskGiB: 1,
		Interfaces: ethN("GigabitEthernet0/", 16), Loopback: true, SerialPorts: 2, BootTimeout: 420,
		BootCompleted: []string{"CVAC-4-CONFIG_DONE"},
		Images:        []imageDef{{ID: "iosvl2-2020", Label: "IOSvL2 2020", DiskImage: "vios_l2-adventerprisek9-m.ssa.high_iron_20200929.qcow2"}},
	},
	{
		ID: "ubuntu", Label: "Ubuntu", Description: "Ubuntu server (cloud-init)", Nature: "server", Icon: "server",
		SimDriver: "ubuntu", DomainDriver: "kvm", ConfigDriver: "ubuntu", ConfigFile: "user-data", MediaType: "iso",
		LabelPrefix: "ubuntu-", Group: "Others", RAM: 2048, CPUs: 1, DiskGiB: 4,
		Interfaces: ethN("ens", 8), SerialPorts: 1, BootTimeout: 300, BootCompleted: []string{"login:"},
		Images: []imageDef{{ID: "ubuntu-24-04-20250503", Label: "Ubuntu 24.04", DiskImage: "noble-server-cloudimg-amd64.img"}},
	},
	{
		ID: "server", Label: "Server", Description: "Tiny Core Linux server", Nature: "server", Icon: "server",
		SimDriver: "server", DomainDriver: "kvm", ConfigDriver: "server", ConfigFile: "node.sh", MediaType: "iso",
		LabelPrefix: "server-", Group: "Others", RAM: 256, CPUs: 1, DiskGiB: 1,
		Interfaces: ethN("eth", 4), SerialPorts: 1, BootTimeout: 180, BootCompleted: []string{"login:"},
		Images: []imageDef{{ID: "tinycorelinux-15-0", Label: "Tiny Core Linux 15.0", DiskImage: "tcl-15-0.qcow2"}},
	},
	{
		ID: "unmanaged_switch", Label: "Unmanaged Switch", Description: "Unmanaged Layer 2 switch", Nature: "switch", Icon: "switch",
		SimDriver: "unmanaged_switch", DomainDriver: "none", LabelPrefix: "unmanaged-switch-", Group: "Others",
		Interfaces: ethN("port", 32), BootTimeout: 10, Unlicensed: true,
	},
	{
		ID: "external_connector", Label: "External Connector", Description: "Connects the lab to an outside network", Nature: "external_connector", Icon: "cloud",
		SimDriver: "external_connector", DomainDriver: "none", LabelPrefix: "ext-conn-", Group: "Others",
		Interfaces: []string{"port"}, BootTimeout: 10, Unlicensed: true,
	},
	{
		// Custom definitions used by shared/cml/sample-lab.yaml.
		ID: "mock-server", Label: "Mock API Server", Description: "Alpine-based mock API server", Nature: "server", Icon: "server",
		SimDriver: "alpine", DomainDriver: "kvm", ConfigDriver: "alpine", ConfigFile: "node.cfg", MediaType: "iso",
		LabelPrefix: "mock-", Group: "Others", RAM: 1024, CPUs: 1, DiskGiB: 2,
		Interfaces: ethN("eth", 4), SerialPorts: 1, BootTimeout: 300, BootCompleted: []string{"Welcome to Alpine"},
		Images: []imageDef{{ID: "mock-api-vmanage-20251028", Label: "Mock vManage API 2025-10-28", DiskImage: "mock-api-vmanage-20251028.qcow2"}},
	},
	{
		ID: "ubuntu-desktop-24-04-v2", Label: "Ubuntu Desktop 24.04", Description: "Ubuntu desktop with VNC", Nature: "host", Icon: "host",
		SimDriver: "ubuntu", DomainDriver: "kvm", ConfigDriver: "ubuntu", ConfigFile: "user-data", MediaType: "iso",
		LabelPrefix: "desktop-", Group: "Others", RAM: 4096, CPUs: 2, DiskGiB: 8,
		Interfaces: ethN("ens", 4), SerialPorts: 1, BootTimeout: 600, BootCompleted: []string{"login:"},
		Images: []imageDef{{ID: "lablet-desktop-v0.1.1", Label: "Lablet desktop v0.1.1", DiskImage: "lablet-desktop-v0.1.1.qcow2"}},
	},
}

func ethN(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		if prefix == "ens" {
			out[i] = prefix + strconv.Itoa(3+i) // Ubuntu names virtio NICs ens3, ens4, …
		} else {
			out[i] = prefix + strconv.Itoa(i)
		}
	}
	return out
}

func findNodeDef(id string) *nodeDef {
	i := slices.IndexFunc(nodeDefs, func(d nodeDef) bool { return d.ID == id })
	if i < 0 {
		return nil
	}
	return &nodeDefs[i]
}

func findImageDef(id string) (*nodeDef, *imageDef) {
	for i := range nodeDefs {
		for j := range nodeDefs[i].Images {
			if nodeDefs[i].Images[j].ID == id {
				return &nodeDefs[i], &nodeDefs[i].Images[j]
			}
		}
	}
	return nil, nil
}

// nodeSpec is what a node consumes when it runs.
type nodeSpec struct{ RAM, CPUs, DiskGiB int }

func nodeSpecFor(n *node) nodeSpec {
	var sp nodeSpec
	if d := findNodeDef(n.NodeDefinition); d != nil {
		sp = nodeSpec{RAM: d.RAM, CPUs: d.CPUs, DiskGiB: d.DiskGiB}
	}
	if n.RAM != nil {
		sp.RAM = *n.RAM
	}
	if n.CPUs != nil {
		sp.CPUs = *n.CPUs
	}
	if n.BootDiskSize != nil && *n.BootDiskSize > 0 {
		sp.DiskGiB = *n.BootDiskSize
	}
	if n.DataVolume != nil {
		sp.DiskGiB += *n.DataVolume
	}
	return sp
}

func (d *nodeDef) imageIDs() []string {
	out := make([]string, 0, len(d.Images))
	for _, im := range d.Images {
		out = append(out, im.ID)
	}
	return out
}

func (d *nodeDef) interfacesJSON() map[string]any {
	m := map[string]any{
		"serial_ports":      d.SerialPorts,
		"physical":          d.Interfaces,
		"has_loopback_zero": d.Loopback,
		"default_count":     min(len(d.Interfaces), 4),
		"min_count":         1,
	}
	if d.Loopback {
		m["loopback"] = []string{"Loopback0"}
	}
	if d.SerialPorts > 0 {
		m["default_console"] = 0
	}
	return m
}

func (d *nodeDef) uiJSON() map[string]any {
	return map[string]any{
		"label_prefix":        d.LabelPrefix,
		"icon":                d.Icon,
		"label":               d.Label,
		"visible":             true,
		"group":               d.Group,
		"description":         d.Description,
		"has_configuration":   d.ConfigFile != "",
		"show_ram":            d.RAM > 0,
		"show_cpus":           d.CPUs > 0,
		"show_cpu_limit":      d.CPUs > 0,
		"show_data_volume":    d.DomainDriver == "kvm",
		"show_boot_disk_size": d.DomainDriver == "kvm",
	}
}

func (d *nodeDef) generalJSON() map[string]any {
	return map[string]any{"nature": d.Nature, "description": d.Description, "read_only": true}
}

// fullJSON renders a NodeDefinitionResponse.
func (d *nodeDef) fullJSON() map[string]any {
	linux := map[string]any{
		"libvirt_domain_driver": d.DomainDriver,
		"driver":                d.SimDriver,
	}
	if d.DomainDriver == "kvm" {
		linux["disk_driver"] = "virtio"
		linux["nic_driver"] = "virtio"
		linux["ram"] = d.RAM
		linux["cpus"] = d.CPUs
		linux["cpu_limit"] = 100
		linux["boot_disk_size"] = d.DiskGiB
	}
	var generator any
	if d.ConfigDriver != "" {
		generator = d.ConfigDriver
	}
	config := map[string]any{"generator": map[string]any{"driver": generator}}
	if d.ConfigFile != "" {
		config["provisioning"] = map[string]any{
			"files":       []any{map[string]any{"editable": true, "name": d.ConfigFile, "content": ""}},
			"media_type":  d.MediaType,
			"volume_name": "cfg",
		}
	}
	boot := map[string]any{"timeout": d.BootTimeout}
	if len(d.BootCompleted) > 0 {
		boot["completed"] = d.BootCompleted
	}
	return map[string]any{
		"id":            d.ID,
		"boot":          boot,
		"sim":           map[string]any{"linux_native": linux},
		"general":       d.generalJSON(),
		"configuration": config,
		"device":        map[string]any{"interfaces": d.interfacesJSON()},
		"ui":            d.uiJSON(),
		"inherited": map[string]any{
			"image": map[string]any{"ram": true, "cpus": true, "data_volume": true, "boot_disk_size": true, "cpu_limit": true},
			"node":  map[string]any{"ram": true, "cpus": true, "data_volume": true, "boot_disk_size": true, "cpu_limit": true},
		},
		"schema_version": "0.0.1",
	}
}

// simplifiedJSON renders a SimplifiedNodeDefinitionResponse.
func (d *nodeDef) simplifiedJSON() map[string]any {
	sim := map[string]any{"console": d.SerialPorts > 0, "simulate": d.DomainDriver != "none", "custom_mac": true, "vnc": d.DomainDriver == "kvm"}
	if d.DomainDriver == "kvm" {
		sim["ram"], sim["cpus"], sim["cpu_limit"], sim["boot_disk_size"] = d.RAM, d.CPUs, 100, d.DiskGiB
	}
	return map[string]any{
		"id":                d.ID,
		"general":           d.generalJSON(),
		"device":            map[string]any{"interfaces": d.interfacesJSON()},
		"ui":                d.uiJSON(),
		"sim":               sim,
		"image_definitions": d.imageIDs(),
	}
}

func (d *nodeDef) imagesJSON() []map[string]any {
	out := make([]map[string]any, 0, len(d.Images))
	for _, im := range d.Images {
		out = append(out, map[string]any{
			"id":                 im.ID,
			"node_definition_id": d.ID,
			"label":              im.Label,
			"disk_image":         im.DiskImage,
			"description":        im.Label,
			"read_only":          true,
			"schema_version":     "0.0.1",
		})
	}
	return out
}

func (s *Sim) handleNodeDefinitions(w http.ResponseWriter, r *http.Request, u *user) {
	out := make([]map[string]any, 0, len(nodeDefs))
	for i := range nodeDefs {
		out = append(out, nodeDefs[i].fullJSON())
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleNodeDefinition(w http.ResponseWriter, r *http.Request, u *user) {
	d := findNodeDef(r.PathValue("def_id"))
	if d == nil {
		writeError(w, http.StatusNotFound, "Node definition not found: "+r.PathValue("def_id"))
		return
	}
	writeJSON(w, http.StatusOK, d.fullJSON())
}

func (s *Sim) handleSimplifiedNodeDefinitions(w http.ResponseWriter, r *http.Request, u *user) {
	out := make([]map[string]any, 0, len(nodeDefs))
	for i := range nodeDefs {
		out = append(out, nodeDefs[i].simplifiedJSON())
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleImageDefinitions(w http.ResponseWriter, r *http.Request, u *user) {
	out := []map[string]any{}
	for i := range nodeDefs {
		out = append(out, nodeDefs[i].imagesJSON()...)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) handleImageDefinition(w http.ResponseWriter, r *http.Request, u *user) {
	id := r.PathValue("def_id")
	for i := range nodeDefs {
		for _, im := range nodeDefs[i].imagesJSON() {
			if im["id"] == id {
				writeJSON(w, http.StatusOK, im)
				return
			}
		}
	}
	writeError(w, http.StatusNotFound, "Image definition not found: "+id)
}

func (s *Sim) handleNodeDefinitionImages(w http.ResponseWriter, r *http.Request, u *user) {
	d := findNodeDef(r.PathValue("def_id"))
	if d == nil {
		writeError(w, http.StatusNotFound, "Node definition not found: "+r.PathValue("def_id"))
		return
	}
	writeJSON(w, http.StatusOK, d.imagesJSON())
}
