package cml_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/cmlcm/cmlcm/internal/cml"
	"github.com/cmlcm/cmlcm/internal/cmlsim"
	"github.com/cmlcm/cmlcm/internal/cmlsim/oascheck"
)

// startSim serves a simulator over HTTPS (self-signed, like a worker) on
// 127.0.0.1.
func startSim(t *testing.T, opts cmlsim.Options) (*cmlsim.Sim, *httptest.Server) {
	t.Helper()
	sim := cmlsim.New(opts)
	srv := httptest.NewUnstartedServer(sim)
	cert, err := cmlsim.SelfSignedCert()
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	// The client's own TLS failures (wrong pin, unknown CA) would make the
	// server log handshake errors; they are expected here.
	srv.Config.ErrorLog = discardLog()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return sim, srv
}

// newClient is a client whose every response is validated against the
// CML 2.9 OpenAPI document; retries back off quickly to keep tests fast.
func newClient(t *testing.T, url string, opts ...cml.Option) *cml.Client {
	t.Helper()
	base := []cml.Option{
		cml.WithBackoff(5*time.Millisecond, 20*time.Millisecond),
		cml.WithTimeout(5 * time.Second),
		cml.WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper { return oascheck.Transport(t, rt) }),
	}
	return cml.New(url, append(base, opts...)...)
}

func sampleLab(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/sample-lab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fakeClock is a settable clock for the simulator.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// matchNothing keeps every user's activity in a filter.
var matchNothing = regexp.MustCompile(`a^`)
