// Package oascheck validates CML API responses against Cisco's CML 2.9
// OpenAPI document, for tests. It is the first fidelity proof of the
// simulator: tests wrap the simulator (Handler) or their HTTP client
// (Transport) and every response that passes through is validated with
// pb33f/libopenapi-validator; any non-conformance fails the test.
//
// Only tests import this package, so the 660 KB document and the validator
// never reach a production binary.
//
// Two operations are known to differ from the document on real
// controllers; they are checked against what CML actually sends instead
// (see Deviations and docs/cml.md).
package oascheck

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/dlclark/regexp2/v2"
	"github.com/pb33f/jsonschema/v6"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"go.yaml.in/yaml/v3"
)

//go:embed testdata/cml-2.9-openapi.json
var document []byte

// Deviation is an operation whose real-world response contradicts the
// OpenAPI document. Check replaces the schema check for it.
type Deviation struct {
	Method string
	Path   *regexp.Regexp // request path, /api/v0/... included
	Why    string
	Check  func(status int, header http.Header, body []byte) error
}

var uuid4 = `[\da-f]{8}-[\da-f]{4}-4[\da-f]{3}-[89ab][\da-f]{3}-[\da-f]{12}`

// Deviations lists the operations where CML (and Cisco's own client) and
// the OpenAPI document disagree. Keep it short: each entry is a documented
// fact about real controllers, not a way to silence the validator.
var Deviations = []Deviation{
	{
		Method: http.MethodGet,
		Path:   regexp.MustCompile(`^/api/v0/labs/` + uuid4 + `/simulation_stats$`),
		Why: "the document declares nodes/links as arrays of Node/Link; real controllers send maps keyed " +
			"by element id, which virl2-client's Lab.sync_statistics iterates with .items()",
		Check: checkSimulationStats,
	},
	{
		Method: http.MethodGet,
		Path:   regexp.MustCompile(`^/api/v0/labs/` + uuid4 + `/download$`),
		Why: "the document declares an application/json string; real controllers send the topology as " +
			"YAML text, which virl2-client and the old fleet manager read with .text",
		Check: checkDownload,
	},
}

var (
	loadOnce sync.Once
	shared   *Validator
	loadErr  error
)

// Validator validates responses against the CML 2.9 document. It is safe
// for concurrent use.
type Validator struct {
	mu        sync.Mutex
	v         validator.Validator
	validated int
}

// Load parses the embedded document once per process (it takes a few
// seconds) and returns the shared validator.
func Load() (*Validator, error) {
	loadOnce.Do(func() {
		doc, err := libopenapi.NewDocument(document)
		if err != nil {
			loadErr = fmt.Errorf("oascheck: parse CML OpenAPI document: %w", err)
			return
		}
		// The document's patterns are Python regular expressions (e.g.
		// the (?!\n) look-ahead pydantic emits), which Go's RE2 cannot
		// compile; regexp2 implements them.
		v, errs := validator.NewValidator(doc, config.WithRegexEngine(pythonRegexp))
		if len(errs) > 0 {
			loadErr = fmt.Errorf("oascheck: build validator: %v", errs)
			return
		}
		shared = &Validator{v: v}
	})
	return shared, loadErr
}

// MustLoad is Load for tests.
func MustLoad(tb testing.TB) *Validator {
	tb.Helper()
	v, err := Load()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

type re2 regexp2.Regexp

func (r *re2) MatchString(s string) bool {
	ok, err := (*regexp2.Regexp)(r).MatchString(s)
	return err == nil && ok
}

func (r *re2) String() string { return (*regexp2.Regexp)(r).String() }

func pythonRegexp(s string) (jsonschema.Regexp, error) {
	r, err := regexp2.Compile(s, regexp2.None)
	if err != nil {
		return nil, err
	}
	return (*re2)(r), nil
}

// Validated is how many responses this validator has checked.
func (v *Validator) Validated() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.validated
}

// Check validates one response to req. It returns nil when the response
// conforms, else an error listing every problem.
func (v *Validator) Check(req *http.Request, status int, header http.Header, body []byte) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.validated++
	for _, d := range Deviations {
		if req.Method == d.Method && d.Path.MatchString(req.URL.Path) {
			if status >= 300 {
				break // errors are ordinary CML error bodies: validate them normally
			}
			if err := d.Check(status, header, body); err != nil {
				return fmt.Errorf("%s %s → %d (documented deviation: %s): %w", req.Method, req.URL.Path, status, d.Why, err)
			}
			return nil
		}
	}
	// The validator only reads the request's method, URL and headers.
	vreq := req.Clone(req.Context())
	vreq.Body = http.NoBody
	resp := &http.Response{
		StatusCode: status,
		Header:     header.Clone(),
		Body:       io.NopCloser(bytes.NewReader(body)),
		Request:    vreq,
	}
	ok, errs := v.v.ValidateHttpResponse(vreq, resp)
	if ok {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s → %d does not conform to the CML 2.9 OpenAPI document:", req.Method, req.URL.RequestURI(), status)
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  - %s: %s", e.Message, e.Reason)
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n      %s (at %s)", s.Reason, s.FieldPath)
		}
	}
	fmt.Fprintf(&b, "\n  body: %.600s", body)
	return fmt.Errorf("%s", b.String())
}

// Transport wraps base (nil = http.DefaultTransport) so every response is
// validated; a non-conforming one fails tb. The response body is buffered
// and handed on unchanged.
func Transport(tb testing.TB, base http.RoundTripper) http.RoundTripper {
	tb.Helper()
	v := MustLoad(tb)
	if base == nil {
		base = http.DefaultTransport
	}
	return roundTripper{tb: tb, v: v, base: base}
}

type roundTripper struct {
	tb   testing.TB
	v    *Validator
	base http.RoundTripper
}

func (rt roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := rt.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		return resp, nil // a broken body is the client's problem to report
	}
	if verr := rt.v.Check(req, resp.StatusCode, resp.Header, body); verr != nil {
		rt.tb.Errorf("oascheck: %v", verr)
	}
	return resp, nil
}

// Handler wraps h so every response it writes is validated. Problems are
// collected and reported when the test ends (handlers run on server
// goroutines, which must not outlive the test's logging).
func Handler(tb testing.TB, h http.Handler) http.Handler {
	tb.Helper()
	v := MustLoad(tb)
	c := &collector{}
	tb.Cleanup(func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, p := range c.problems {
			tb.Errorf("oascheck: %s", p)
		}
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		res := rec.Result()
		body := rec.Body.Bytes()
		if err := v.Check(r, res.StatusCode, res.Header, body); err != nil {
			c.add(err.Error())
		}
		for k, vals := range res.Header {
			w.Header()[k] = vals
		}
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(body)
	})
}

type collector struct {
	mu       sync.Mutex
	problems []string
}

func (c *collector) add(p string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.problems = append(c.problems, p)
}

var uuid4RE = regexp.MustCompile(`^` + uuid4 + `$`)

func checkSimulationStats(status int, header http.Header, body []byte) error {
	if status != http.StatusOK {
		return fmt.Errorf("status %d, want 200", status)
	}
	var v struct {
		Nodes map[string]map[string]any `json:"nodes"`
		Links map[string]map[string]any `json:"links"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return fmt.Errorf("want {\"nodes\": {id: {...}}, \"links\": {id: {...}}}: %w", err)
	}
	for id, n := range v.Nodes {
		if !uuid4RE.MatchString(id) {
			return fmt.Errorf("node key %q is not a UUID4", id)
		}
		if _, ok := n["cpu_usage"]; !ok {
			return fmt.Errorf("node %s has no cpu_usage", id)
		}
	}
	for id := range v.Links {
		if !uuid4RE.MatchString(id) {
			return fmt.Errorf("link key %q is not a UUID4", id)
		}
	}
	return nil
}

func checkDownload(status int, header http.Header, body []byte) error {
	if status != http.StatusOK {
		return fmt.Errorf("status %d, want 200", status)
	}
	var topo struct {
		Lab   map[string]any `yaml:"lab"`
		Nodes []any          `yaml:"nodes"`
		Links []any          `yaml:"links"`
	}
	if err := yaml.Unmarshal(body, &topo); err != nil {
		return fmt.Errorf("body is not YAML: %w", err)
	}
	if topo.Lab == nil || topo.Lab["version"] == nil {
		return fmt.Errorf("YAML has no lab.version")
	}
	return nil
}
