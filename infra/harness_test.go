package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

// Synthesizing through jsii is slow (tens of seconds), so the test binary
// synthesizes every environment of environments.go once, into one temporary
// cloud assembly, and all tests read the same templates.

var (
	synthOnce sync.Once
	synthed   *synthesis
	synthErr  error
	tmpRoot   string
)

// synthesis is the shared result.
type synthesis struct {
	outdir      string
	envs        []Environment
	deployments map[string]*Deployment // by environment name
	templates   map[string]*template   // by stack name
}

// template is one synthesized CloudFormation template.
type template struct {
	name      string
	file      string
	region    string
	raw       map[string]any
	resources map[string]resource
}

type resource struct {
	ID         string
	Type       string
	Properties map[string]any
	Raw        map[string]any
}

func TestMain(m *testing.M) {
	// Quiet jsii's banners; they are not ours to fix.
	os.Setenv("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
	os.Setenv("JSII_DEPRECATED", "quiet")
	code := m.Run()
	if synthed != nil || synthErr != nil {
		jsii.Close()
	}
	if tmpRoot != "" {
		os.RemoveAll(tmpRoot)
	}
	os.Exit(code)
}

// fixtureAssets makes a tiny bootstrap per Lambda binary and a one-file
// dashboard, so the tests do not depend on `make build`.
func fixtureAssets(dir string) (Assets, error) {
	a := Assets{LambdaDir: filepath.Join(dir, "lambda"), DashboardDir: filepath.Join(dir, "dashboard")}
	for _, fn := range lambdaBinaries {
		d := filepath.Join(a.LambdaDir, fn)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return a, err
		}
		if err := os.WriteFile(filepath.Join(d, "bootstrap"), []byte("#!/bin/sh\n# "+fn+" fixture\n"), 0o755); err != nil {
			return a, err
		}
	}
	if err := os.MkdirAll(a.DashboardDir, 0o755); err != nil {
		return a, err
	}
	return a, os.WriteFile(filepath.Join(a.DashboardDir, "index.html"), []byte("<!doctype html><title>fixture</title>\n"), 0o644)
}

// synth returns the shared synthesis, failing the test if it failed.
func synth(t *testing.T) *synthesis {
	t.Helper()
	synthOnce.Do(func() {
		start := time.Now()
		synthed, synthErr = doSynth()
		t.Logf("synthesized every environment in %s", time.Since(start).Round(100*time.Millisecond))
	})
	if synthErr != nil {
		t.Fatalf("synthesis failed: %v", synthErr)
	}
	return synthed
}

func doSynth() (s *synthesis, err error) {
	tmpRoot, err = os.MkdirTemp("", "cmlcm-infra-test-")
	if err != nil {
		return nil, err
	}
	assets, err := fixtureAssets(tmpRoot)
	if err != nil {
		return nil, err
	}
	if err := assets.Check(""); err != nil {
		return nil, err
	}
	envs, err := selectEnvironments(Environments, "all")
	if err != nil {
		return nil, err
	}
	outdir := filepath.Join(tmpRoot, "cdk.out")
	app, err := newApp(outdir)
	if err != nil {
		return nil, err
	}
	s = &synthesis{outdir: outdir, envs: envs, deployments: map[string]*Deployment{}, templates: map[string]*template{}}
	for _, d := range build(app, envs, assets) {
		s.deployments[d.Env.Name] = d
	}
	// Unsuppressed cdk-nag findings are error annotations, which fail
	// synthesis: report them from the validation report.
	func() {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v\n%s", r, validationViolations(outdir))
			}
		}()
		app.Synth(nil)
	}()
	if err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(outdir, "*.template.json"))
	for _, f := range files {
		tpl, err := loadTemplate(f)
		if err != nil {
			return nil, err
		}
		s.templates[tpl.name] = tpl
	}
	for _, d := range s.deployments {
		for _, st := range d.Stacks() {
			if tpl, ok := s.templates[*st.StackName()]; ok {
				tpl.region = *st.Region()
			}
		}
	}
	return s, nil
}

// validationViolations summarizes validation-report.json (cdk-nag errors
// and CloudFormation validation findings), one line per finding.
func validationViolations(outdir string) string {
	data, err := os.ReadFile(filepath.Join(outdir, "validation-report.json"))
	if err != nil {
		return "(no validation report)"
	}
	var report struct {
		PluginReports []struct {
			Violations []struct {
				Description         string
				ViolatingConstructs []struct{ ConstructPath string }
			}
		}
	}
	if err := json.Unmarshal(data, &report); err != nil {
		return string(data)
	}
	var lines []string
	for _, p := range report.PluginReports {
		for _, v := range p.Violations {
			desc := strings.SplitN(v.Description, "\n", 2)[0]
			if len(desc) > 160 {
				desc = desc[:160] + "…"
			}
			for _, c := range v.ViolatingConstructs {
				lines = append(lines, c.ConstructPath+": "+desc)
			}
		}
	}
	return strings.Join(lines, "\n")
}

func loadTemplate(file string) (*template, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	t := &template{name: strings.TrimSuffix(filepath.Base(file), ".template.json"), file: file, raw: raw, resources: map[string]resource{}}
	res, _ := raw["Resources"].(map[string]any)
	for id, v := range res {
		m := v.(map[string]any)
		props, _ := m["Properties"].(map[string]any)
		t.resources[id] = resource{ID: id, Type: m["Type"].(string), Properties: props, Raw: m}
	}
	return t, nil
}

// stack returns the template of an environment's stack ("stateful",
// "service").
func (s *synthesis) stack(t *testing.T, env, kind string) *template {
	t.Helper()
	tpl, ok := s.templates["cmlcm-"+env+"-"+kind]
	if !ok {
		t.Fatalf("no template cmlcm-%s-%s", env, kind)
	}
	return tpl
}

// assertions returns the CDK assertions view of a template.
func (tpl *template) assertions() assertions.Template {
	return assertions.Template_FromJSON(&tpl.raw, nil)
}

// ofType returns the resources of a type, sorted by logical id.
func (tpl *template) ofType(typ string) []resource {
	var out []resource
	for _, r := range tpl.resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// canon renders an intrinsic-bearing value as a comparable string:
// {"Ref": X} → "ref:X", {"Fn::GetAtt": [X, A]} → "getatt:X.A", a
// cross-stack output → "out:<output name>", joins concatenated.
func canon(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if r, ok := x["Ref"]; ok {
			return "ref:" + r.(string)
		}
		if g, ok := x["Fn::GetAtt"]; ok {
			parts := g.([]any)
			return "getatt:" + parts[0].(string) + "." + parts[1].(string)
		}
		if o, ok := x["Fn::GetStackOutput"]; ok {
			return "out:" + o.(map[string]any)["OutputName"].(string)
		}
		if i, ok := x["Fn::ImportValue"]; ok {
			return "import:" + canon(i)
		}
		if j, ok := x["Fn::Join"]; ok {
			args := j.([]any)
			var parts []string
			for _, p := range args[1].([]any) {
				parts = append(parts, canon(p))
			}
			return strings.Join(parts, args[0].(string))
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// list turns a string-or-list JSON value into a list.
func list(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// path digs into nested maps: path(m, "A", "B").
func path(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
