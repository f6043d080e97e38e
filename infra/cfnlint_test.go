package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// cfnLint finds cfn-lint: $CFN_LINT, then the project's .venv (the
// version pinned in tools/requirements.txt, installed by `make deps`), then
// PATH. The pinned one comes before PATH because an older cfn-lint does not
// know newer resource properties CDK emits.
func cfnLint() (string, error) {
	if p := os.Getenv("CFN_LINT"); p != "" {
		return p, nil
	}
	if root, err := repoRoot(); err == nil {
		p := filepath.Join(root, ".venv", "bin", "cfn-lint")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("cfn-lint"); err == nil {
		return p, nil
	}
	return "", errors.New("cfn-lint not found: run `make deps` (installs the pinned cfn-lint of tools/requirements.txt into .venv), " +
		"or `pip install cfn-lint`, or set CFN_LINT to its path")
}

var cfnLintLine = regexp.MustCompile(`^(.+?):(\d+):(\d+):\d+:\d+:([EWI]\d+):(.*)$`)

// TestCfnLint runs cfn-lint on every template the tests synthesized: zero
// errors. Warnings are logged (the ones CDK produces by design, such as
// W3005 on a function's DependsOn its role, are harmless).
func TestCfnLint(t *testing.T) {
	s := synth(t)
	bin, err := cfnLint()
	if err != nil {
		t.Fatal(err)
	}
	var tpls []*template
	for _, tpl := range s.templates {
		tpls = append(tpls, tpl)
	}
	sort.Slice(tpls, func(i, j int) bool { return tpls[i].name < tpls[j].name })
	version, _ := exec.Command(bin, "--version").Output()
	t.Logf("using %s (%s)", bin, strings.TrimSpace(string(version)))

	// One process per template, as many at once as there are CPUs: the two
	// service templates dominate, and cfn-lint is single-threaded.
	outs := make([][]byte, len(tpls))
	sem := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	for i, tpl := range tpls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// Each template is linted for the region it deploys to.
			out, err := exec.Command(bin, "--format", "parseable", "--regions", tpl.region, "--", tpl.file).CombinedOutput()
			var exit *exec.ExitError
			if err != nil && !errors.As(err, &exit) {
				out = append(out, []byte("\nrunning cfn-lint: "+err.Error())...)
			}
			outs[i] = out
		}()
	}
	wg.Wait()
	out := bytes.Join(outs, []byte("\n"))
	warnings := map[string]int{}
	errs := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		m := cfnLintLine.FindStringSubmatch(line)
		if m == nil {
			if strings.TrimSpace(line) != "" {
				t.Errorf("cfn-lint: %s", line)
			}
			continue
		}
		switch m[4][0] {
		case 'E':
			errs++
			t.Errorf("%s:%s: %s %s", filepath.Base(m[1]), m[2], m[4], m[5])
		default:
			warnings[m[4]]++
		}
	}
	t.Logf("cfn-lint on %d templates: %d errors, warnings by rule %v", len(tpls), errs, warnings)
}
