package cmlsim_test

import (
	"context"
	"crypto/tls"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/cmlsim"
	"github.com/cmlcm/cmlcm/internal/cmlsim/oascheck"
)

// python finds the project's interpreter: $CMLCM_PYTHON, else
// <repo>/.venv/bin/python. A missing interpreter or virl2_client is a test
// failure, not a skip: this test is one of the simulator's fidelity proofs.
func python(t *testing.T) string {
	t.Helper()
	py := os.Getenv("CMLCM_PYTHON")
	if py == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatalf("find repository root: %v", err)
		}
		py = filepath.Join(root, ".venv", "bin", "python")
	}
	if _, err := os.Stat(py); err != nil {
		t.Fatalf("Python interpreter %s not found (%v): run `make deps` "+
			"(python3 -m venv .venv && .venv/bin/pip install -r tools/requirements.txt) or set CMLCM_PYTHON", py, err)
	}
	out, err := exec.Command(py, "-c", "import virl2_client").CombinedOutput()
	if err != nil {
		t.Fatalf("%s cannot import virl2_client (%v: %s): run `make deps` "+
			"(python3 -m venv .venv && .venv/bin/pip install -r tools/requirements.txt)", py, err, out)
	}
	return py
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// TestVirl2ClientSmoke drives the simulator over HTTPS on 127.0.0.1 with
// Cisco's unchanged Python client (testdata/virl2_smoke.py). Every response
// the simulator sends during the run is also validated against the CML 2.9
// OpenAPI document.
func TestVirl2ClientSmoke(t *testing.T) {
	py := python(t)
	validatedBefore := oascheck.MustLoad(t).Validated()
	sim := cmlsim.New(cmlsim.Options{Username: "admin", Password: "s3cret-Pa55"})
	cert, err := cmlsim.SelfSignedCert("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(oascheck.Handler(t, sim))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") {
		t.Fatalf("server URL %s is not HTTPS on 127.0.0.1", srv.URL)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, py, filepath.Join("testdata", "virl2_smoke.py"),
		srv.URL, "admin", "s3cret-Pa55", filepath.Join("testdata", "sample-lab.yaml"))
	// Keep the user's virl2 configuration (.virlrc, VIRL2_* variables) out
	// of the run: the script passes everything explicitly.
	cmd.Env = cleanEnv()
	cmd.Dir = "."
	out, err := cmd.CombinedOutput()
	t.Logf("virl2_smoke.py output:\n%s", out)
	if err != nil {
		t.Fatalf("virl2_smoke.py failed: %v", err)
	}
	if !strings.Contains(string(out), "virl2 smoke: OK") {
		t.Fatal("virl2_smoke.py did not report success")
	}

	// Guard against a vacuous proof: the run must have gone through the
	// validator (construction alone is three calls; the script makes ~60).
	if n := oascheck.MustLoad(t).Validated() - validatedBefore; n < 40 {
		t.Errorf("only %d responses were validated against the OpenAPI document", n)
	} else {
		t.Logf("%d simulator responses validated against the CML 2.9 OpenAPI document", n)
	}

	// Everything the script made is gone again.
	if l := sim.Load(); l.TotalLabs != 0 || l.RunningNodes != 0 {
		t.Errorf("after the smoke run: %+v, want no labs", l)
	}
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "VIRL2_URL", "VIRL_HOST", "VIRL2_USER", "VIRL_USERNAME", "VIRL2_PASS", "VIRL_PASSWORD", "CA_BUNDLE", "CML_VERIFY_CERT":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+os.TempDir())
}
