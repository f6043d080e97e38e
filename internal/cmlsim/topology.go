package cmlsim

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Topology schema versions CML 2.9 accepts (OpenAPI TopologySchemaVersionEnum).
var topologyVersions = []string{"0.0.1", "0.0.2", "0.0.3", "0.0.4", "0.0.5", "0.1.0", "0.2.0", "0.2.1", "0.2.2", "0.3.0"}

// exportVersion is the schema version downloads are written in.
const exportVersion = "0.3.0"

// topoFile is the import/export YAML format (shared/cml/sample-lab.yaml).
// Field order follows a CML 2.9 export so downloads read like the real thing.
type topoFile struct {
	Annotations      []map[string]any `yaml:"annotations,omitempty"`
	SmartAnnotations []map[string]any `yaml:"smart_annotations,omitempty"`
	Nodes            *[]topoNode      `yaml:"nodes"`
	Links            *[]topoLink      `yaml:"links"`
	Lab              *topoLab         `yaml:"lab"`
}

type topoLab struct {
	Description *string `yaml:"description"`
	Notes       *string `yaml:"notes"`
	Title       *string `yaml:"title"`
	Version     string  `yaml:"version"`
}

type topoNode struct {
	BootDiskSize    *int           `yaml:"boot_disk_size"`
	Configuration   any            `yaml:"configuration"`
	CPULimit        *int           `yaml:"cpu_limit"`
	CPUs            *int           `yaml:"cpus"`
	DataVolume      *int           `yaml:"data_volume"`
	HideLinks       *bool          `yaml:"hide_links"`
	ID              string         `yaml:"id"`
	ImageDefinition *string        `yaml:"image_definition"`
	Label           string         `yaml:"label"`
	NodeDefinition  string         `yaml:"node_definition"`
	Parameters      map[string]any `yaml:"parameters"`
	RAM             *int           `yaml:"ram"`
	Tags            []string       `yaml:"tags"`
	X               *int           `yaml:"x"`
	Y               *int           `yaml:"y"`
	Interfaces      []topoIface    `yaml:"interfaces"`
}

type topoIface struct {
	ID         string  `yaml:"id"`
	Label      string  `yaml:"label,omitempty"`
	MACAddress *string `yaml:"mac_address"`
	Type       string  `yaml:"type"`
	Slot       *int    `yaml:"slot,omitempty"`
}

type topoLink struct {
	ID           string         `yaml:"id"`
	N1           string         `yaml:"n1"`
	N2           string         `yaml:"n2"`
	I1           string         `yaml:"i1"`
	I2           string         `yaml:"i2"`
	Conditioning map[string]any `yaml:"conditioning"`
	Label        string         `yaml:"label,omitempty"`
}

// errImport is a topology the importer refuses (400 "Import failed").
type errImport struct{ msg string }

func (e errImport) Error() string { return e.msg }

func importErrorf(format string, a ...any) error { return errImport{fmt.Sprintf(format, a...)} }

// parseTopology validates a topology document and builds a lab from it.
// The body is parsed as YAML whatever the request's Content-Type (JSON is
// YAML too): virl2-client sends no Content-Type, gocmlclient and the old
// fleet manager send application/json with YAML inside.
func parseTopology(body []byte, title string, owner string, now time.Time) (*lab, []string, error) {
	var f topoFile
	dec := yaml.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&f); err != nil {
		return nil, nil, importErrorf("Import failed: the topology is not valid YAML: %v", err)
	}
	if f.Lab == nil {
		return nil, nil, importErrorf("Import failed: the topology has no 'lab' section (schema 0.0.5 and older is not supported)")
	}
	if !slices.Contains(topologyVersions, f.Lab.Version) {
		return nil, nil, importErrorf("Import failed: unsupported topology schema version %q", f.Lab.Version)
	}
	if f.Nodes == nil {
		return nil, nil, importErrorf("Import failed: the topology has no 'nodes' list")
	}
	if f.Links == nil {
		return nil, nil, importErrorf("Import failed: the topology has no 'links' list")
	}
	var warnings []string
	l := &lab{
		ID:    newUUID(),
		Owner: owner,
		// CML upgrades older schemas on import and serves the current one.
		Version:     exportVersion,
		Created:     now,
		Modified:    now,
		Title:       deref(f.Lab.Title),
		Description: deref(f.Lab.Description),
		Notes:       deref(f.Lab.Notes),
	}
	if title != "" {
		l.Title = title
	}
	if l.Title == "" {
		l.Title = defaultTitle(now)
	}
	if err := checkLabText(l.Title, l.Description, l.Notes); err != nil {
		return nil, nil, err
	}

	type ref struct {
		node  *node
		iface map[string]*iface
	}
	byLocal := map[string]ref{}
	for i, tn := range *f.Nodes {
		where := fmt.Sprintf("node %d", i)
		if tn.ID == "" || len(tn.ID) > 64 {
			return nil, nil, importErrorf("Import failed: %s: 'id' is required (1-64 characters)", where)
		}
		where = "node " + tn.ID
		if _, dup := byLocal[tn.ID]; dup {
			return nil, nil, importErrorf("Import failed: duplicate node id %q", tn.ID)
		}
		if tn.Label == "" || len(tn.Label) > 128 {
			return nil, nil, importErrorf("Import failed: %s: 'label' is required (1-128 characters)", where)
		}
		if tn.X == nil || tn.Y == nil {
			return nil, nil, importErrorf("Import failed: %s: 'x' and 'y' are required", where)
		}
		if *tn.X < -15000 || *tn.X > 15000 || *tn.Y < -15000 || *tn.Y > 15000 {
			return nil, nil, importErrorf("Import failed: %s: coordinates must be within -15000..15000", where)
		}
		def := findNodeDef(tn.NodeDefinition)
		if def == nil {
			return nil, nil, importErrorf("Import failed: %s: node definition %q not found", where, tn.NodeDefinition)
		}
		if err := checkNodeResources(where, tn); err != nil {
			return nil, nil, err
		}
		if tn.ImageDefinition != nil {
			if idef, _ := findImageDef(*tn.ImageDefinition); idef == nil || idef.ID != def.ID {
				warnings = append(warnings, fmt.Sprintf("Node %s: image definition `%s` is not available for node definition `%s`; the default image will be used.", tn.Label, *tn.ImageDefinition, def.ID))
			}
		}
		cfg, err := normaliseConfiguration(tn.Configuration, def)
		if err != nil {
			return nil, nil, importErrorf("Import failed: %s: %v", where, err)
		}
		n := &node{
			ID: newUUID(), Label: tn.Label, NodeDefinition: tn.NodeDefinition, ImageDefinition: tn.ImageDefinition,
			X: *tn.X, Y: *tn.Y, RAM: tn.RAM, CPUs: tn.CPUs, CPULimit: tn.CPULimit, DataVolume: tn.DataVolume,
			BootDiskSize: tn.BootDiskSize, HideLinks: tn.HideLinks != nil && *tn.HideLinks,
			Tags: nonNil(tn.Tags), Parameters: tn.Parameters, Configuration: cfg,
			State: NodeDefined, Since: now,
		}
		if n.Parameters == nil {
			n.Parameters = map[string]any{}
		}
		r := ref{node: n, iface: map[string]*iface{}}
		slots := map[int]bool{}
		for j, ti := range tn.Interfaces {
			if ti.ID == "" {
				return nil, nil, importErrorf("Import failed: %s: interface %d has no 'id'", where, j)
			}
			if _, dup := r.iface[ti.ID]; dup {
				return nil, nil, importErrorf("Import failed: %s: duplicate interface id %q", where, ti.ID)
			}
			if ti.Type != "physical" && ti.Type != "loopback" {
				return nil, nil, importErrorf("Import failed: %s: interface %s: 'type' must be physical or loopback", where, ti.ID)
			}
			if ti.Slot != nil {
				if *ti.Slot < 0 || *ti.Slot > 128 {
					return nil, nil, importErrorf("Import failed: %s: interface %s: slot out of range", where, ti.ID)
				}
				if slots[*ti.Slot] {
					return nil, nil, importErrorf("Import failed: %s: interface %s: slot %d used twice", where, ti.ID, *ti.Slot)
				}
				slots[*ti.Slot] = true
			}
			label := ti.Label
			if label == "" {
				label = defaultIfaceLabel(def, ti)
			}
			ifc := &iface{ID: newUUID(), Label: label, Type: ti.Type, Slot: ti.Slot, MACAddress: ti.MACAddress}
			n.Interfaces = append(n.Interfaces, ifc)
			r.iface[ti.ID] = ifc
		}
		byLocal[tn.ID] = r
		l.Nodes = append(l.Nodes, n)
	}

	used := map[*iface]bool{}
	seenLinks := map[string]bool{}
	for i, tl := range *f.Links {
		if tl.ID == "" || tl.N1 == "" || tl.N2 == "" || tl.I1 == "" || tl.I2 == "" {
			return nil, nil, importErrorf("Import failed: link %d: 'id', 'n1', 'n2', 'i1' and 'i2' are required", i)
		}
		if seenLinks[tl.ID] {
			return nil, nil, importErrorf("Import failed: duplicate link id %q", tl.ID)
		}
		seenLinks[tl.ID] = true
		a, okA := byLocal[tl.N1]
		b, okB := byLocal[tl.N2]
		if !okA || !okB {
			return nil, nil, importErrorf("Import failed: link %s: unknown node", tl.ID)
		}
		ia, okIA := a.iface[tl.I1]
		ib, okIB := b.iface[tl.I2]
		if !okIA || !okIB {
			return nil, nil, importErrorf("Import failed: link %s: unknown interface", tl.ID)
		}
		if ia == ib || used[ia] || used[ib] {
			return nil, nil, importErrorf("Import failed: link %s: an interface can be used by one link only", tl.ID)
		}
		used[ia], used[ib] = true, true
		label := tl.Label
		if label == "" {
			label = a.node.Label + "-" + ia.Label + "<->" + b.node.Label + "-" + ib.Label
		}
		l.Links = append(l.Links, &link{
			ID: newUUID(), InterfaceA: ia.ID, InterfaceB: ib.ID, NodeA: a.node.ID, NodeB: b.node.ID,
			Label: label, Conditioning: tl.Conditioning,
		})
	}

	for i, a := range f.Annotations {
		t, _ := a["type"].(string)
		if !slices.Contains([]string{"text", "rectangle", "ellipse", "line"}, t) {
			return nil, nil, importErrorf("Import failed: annotation %d: 'type' must be text, rectangle, ellipse or line", i)
		}
		l.Annotations = append(l.Annotations, withID(a))
	}
	for i, a := range f.SmartAnnotations {
		if t, _ := a["tag"].(string); t == "" {
			return nil, nil, importErrorf("Import failed: smart annotation %d: 'tag' is required", i)
		}
		l.SmartAnnotations = append(l.SmartAnnotations, withID(a))
	}
	return l, warnings, nil
}

func checkLabText(title, description, notes string) error {
	switch {
	case len(title) > 64:
		return importErrorf("Import failed: the lab title is longer than 64 characters")
	case len(description) > 4096:
		return importErrorf("Import failed: the lab description is longer than 4096 characters")
	case len(notes) > 32768:
		return importErrorf("Import failed: the lab notes are longer than 32768 characters")
	}
	return nil
}

func checkNodeResources(where string, tn topoNode) error {
	check := func(name string, v *int, lo, hi int) error {
		if v != nil && (*v < lo || *v > hi) {
			return importErrorf("Import failed: %s: %s must be within %d..%d", where, name, lo, hi)
		}
		return nil
	}
	return errors.Join(
		check("ram", tn.RAM, 1, 1048576),
		check("cpus", tn.CPUs, 1, 128),
		check("cpu_limit", tn.CPULimit, 20, 100),
		check("data_volume", tn.DataVolume, 0, 4096),
		check("boot_disk_size", tn.BootDiskSize, 0, 4096),
	)
}

// normaliseConfiguration accepts the three shapes CML does: a string (the
// node definition's main configuration file), a list of {name, content},
// or a single {name, content}.
func normaliseConfiguration(v any, def *nodeDef) ([]configFile, error) {
	switch c := v.(type) {
	case nil:
		return nil, nil
	case string:
		name := def.ConfigFile
		if name == "" {
			name = "Main"
		}
		return []configFile{{Name: name, Content: &c}}, nil
	case map[string]any:
		f, err := configFileOf(c)
		if err != nil {
			return nil, err
		}
		return []configFile{f}, nil
	case []any:
		out := make([]configFile, 0, len(c))
		for _, item := range c {
			m, ok := item.(map[string]any)
			if !ok {
				return nil, errors.New("configuration list entries must be {name, content} objects")
			}
			f, err := configFileOf(m)
			if err != nil {
				return nil, err
			}
			out = append(out, f)
		}
		return out, nil
	}
	return nil, errors.New("configuration must be a string or a list of {name, content}")
}

func configFileOf(m map[string]any) (configFile, error) {
	name, _ := m["name"].(string)
	if name == "" || len(name) > 64 {
		return configFile{}, errors.New("configuration file needs a 'name' (1-64 characters)")
	}
	f := configFile{Name: name}
	switch c := m["content"].(type) {
	case nil:
	case string:
		f.Content = &c
	default:
		return configFile{}, errors.New("configuration 'content' must be a string")
	}
	return f, nil
}

func defaultIfaceLabel(def *nodeDef, ti topoIface) string {
	if ti.Type == "loopback" {
		return "Loopback0"
	}
	if ti.Slot != nil && *ti.Slot < len(def.Interfaces) {
		return def.Interfaces[*ti.Slot]
	}
	slot := 0
	if ti.Slot != nil {
		slot = *ti.Slot
	}
	return "eth" + strconv.Itoa(slot)
}

// withID copies an annotation and gives it a server id.
func withID(a map[string]any) map[string]any {
	m := make(map[string]any, len(a)+1)
	for k, v := range a {
		m[k] = v
	}
	m["id"] = newUUID()
	return m
}

// defaultTitle is the title CML invents for an untitled lab.
func defaultTitle(now time.Time) string { return "Lab at " + now.Format("Mon 15:04 PM") }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// exportYAML writes a lab in the import format, with file-local ids
// (n0, i0, l0) as CML's download does, so it can be imported again.
func exportYAML(l *lab) ([]byte, error) {
	f := topoFile{Lab: &topoLab{
		Description: &l.Description, Notes: &l.Notes, Title: &l.Title, Version: exportVersion,
	}}
	nodeLocal := map[string]string{}
	ifaceLocal := map[string]string{}
	nodes := make([]topoNode, 0, len(l.Nodes))
	for i, n := range l.Nodes {
		nodeLocal[n.ID] = "n" + strconv.Itoa(i)
		x, y := n.X, n.Y
		hide := n.HideLinks
		tn := topoNode{
			BootDiskSize: n.BootDiskSize, CPULimit: n.CPULimit, CPUs: n.CPUs, DataVolume: n.DataVolume,
			HideLinks: &hide, ID: nodeLocal[n.ID], ImageDefinition: n.ImageDefinition, Label: n.Label,
			NodeDefinition: n.NodeDefinition, Parameters: n.Parameters, RAM: n.RAM, Tags: nonNil(n.Tags),
			X: &x, Y: &y,
		}
		if n.Configuration != nil {
			tn.Configuration = n.Configuration
		}
		for j, ifc := range n.Interfaces {
			ifaceLocal[ifc.ID] = "i" + strconv.Itoa(j)
			tn.Interfaces = append(tn.Interfaces, topoIface{
				ID: ifaceLocal[ifc.ID], Label: ifc.Label, MACAddress: ifc.MACAddress, Type: ifc.Type, Slot: ifc.Slot,
			})
		}
		nodes = append(nodes, tn)
	}
	links := make([]topoLink, 0, len(l.Links))
	for i, k := range l.Links {
		cond := k.Conditioning
		if cond == nil {
			cond = map[string]any{}
		}
		links = append(links, topoLink{
			ID: "l" + strconv.Itoa(i), N1: nodeLocal[k.NodeA], N2: nodeLocal[k.NodeB],
			I1: ifaceLocal[k.InterfaceA], I2: ifaceLocal[k.InterfaceB], Conditioning: cond, Label: k.Label,
		})
	}
	f.Nodes, f.Links = &nodes, &links
	for _, a := range l.Annotations {
		f.Annotations = append(f.Annotations, withoutID(a))
	}
	for _, a := range l.SmartAnnotations {
		f.SmartAnnotations = append(f.SmartAnnotations, withoutID(a))
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(4)
	if err := enc.Encode(f); err != nil {
		return nil, fmt.Errorf("cmlsim: encode topology: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("cmlsim: encode topology: %w", err)
	}
	return buf.Bytes(), nil
}

func withoutID(a map[string]any) map[string]any {
	m := make(map[string]any, len(a))
	for k, v := range a {
		if k != "id" {
			m[k] = v
		}
	}
	return m
}

// topologyJSON renders GET /labs/{id}/topology (TopologyResponse). It
// satisfies both the OpenAPI schema and what virl2-client reads: lab
// title/description/notes always present, interfaces nested in nodes,
// links by interface id. Callers hold s.mu.
func topologyJSON(l *lab, excludeConfigurations bool) map[string]any {
	nodes := make([]map[string]any, 0, len(l.Nodes))
	for _, n := range l.Nodes {
		m := nodeCommonJSON(n)
		if !excludeConfigurations {
			m["configuration"] = configurationJSON(n)
		}
		ifaces := make([]map[string]any, 0, len(n.Interfaces))
		for _, i := range n.Interfaces {
			im := map[string]any{"id": i.ID, "label": i.Label, "type": i.Type, "mac_address": i.MACAddress}
			if i.Slot != nil {
				im["slot"] = *i.Slot
			}
			ifaces = append(ifaces, im)
		}
		m["interfaces"] = ifaces
		nodes = append(nodes, m)
	}
	links := make([]map[string]any, 0, len(l.Links))
	for _, k := range l.Links {
		m := map[string]any{
			"id": k.ID, "interface_a": k.InterfaceA, "interface_b": k.InterfaceB,
			"node_a": k.NodeA, "node_b": k.NodeB, "label": k.Label,
		}
		if len(k.Conditioning) > 0 {
			m["conditioning"] = k.Conditioning
		}
		links = append(links, m)
	}
	return map[string]any{
		"lab": map[string]any{
			"version": l.Version, "title": l.Title, "description": l.Description, "notes": l.Notes, "owner": l.Owner,
		},
		"nodes":             nodes,
		"links":             links,
		"annotations":       nonNil(l.Annotations),
		"smart_annotations": nonNil(l.SmartAnnotations),
	}
}

// nodeCommonJSON holds the keys shared by NodeTopology and Node.
func nodeCommonJSON(n *node) map[string]any {
	return map[string]any{
		"id":               n.ID,
		"label":            n.Label,
		"node_definition":  n.NodeDefinition,
		"x":                n.X,
		"y":                n.Y,
		"image_definition": n.ImageDefinition,
		"ram":              n.RAM,
		"cpus":             n.CPUs,
		"cpu_limit":        n.CPULimit,
		"data_volume":      n.DataVolume,
		"boot_disk_size":   n.BootDiskSize,
		"hide_links":       n.HideLinks,
		"tags":             nonNil(n.Tags),
		"parameters":       n.Parameters,
	}
}

func configurationJSON(n *node) any {
	if n.Configuration == nil {
		return nil
	}
	return n.Configuration
}
