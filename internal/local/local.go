// Package local is the in-process AWS fabric of the all-in-one server: it
// opens the embedded store, runs the projector on the store's change feed,
// drives the sandbox cloud, and serves the API (the same handlers the
// route Lambdas serve), the API docs, the dashboard files and the
// development identity provider on one address.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/cmlcm/cmlcm/internal/api"
)

// Config is the local server's configuration.
type Config struct {
	Addr    string // listen address, e.g. 127.0.0.1:8080
	DataDir string // everything the server keeps lives here
	// TimeScale speeds up the sandbox's simulated EC2 and CML durations.
	TimeScale float64
	// WebDir holds the built dashboard (index.html…); served at / when it
	// exists. Default web/dist.
	WebDir string
	// SeedDemo creates a small demo fleet when the fleet is empty.
	SeedDemo bool
	Version  string
	Logger   *slog.Logger

	// Authentication (internal/auth): the authenticator of API requests,
	// its handlers of the auth routes (authLogin, authCallback,
	// authLogout, authMe), and other paths it serves (the development
	// OpenID provider). A nil Authenticator refuses every request that
	// needs an identity.
	Authenticator api.Authenticator
	AuthHandlers  map[string]http.Handler
	Mounts        map[string]http.Handler
	// DevIdentityProvider, when set, is announced by /api/health for
	// `cmlcm token` ({issuer, clientId}).
	DevIdentityProvider map[string]string

	// Runtime overrides the sandbox durations and HTTP mode (tests).
	Runtime RuntimeOptions
}

// Server is a local server.
type Server struct {
	cfg  Config
	log  *slog.Logger
	rt   *Runtime
	http *http.Server
	ln   net.Listener
}

// noIdentity refuses every credential: no identity provider is wired.
var noIdentity = api.AuthenticatorFunc(func(*http.Request) (api.Principal, error) {
	return api.Principal{}, api.ErrNoCredentials
})

// New opens the data directory and prepares the server.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.WebDir == "" {
		cfg.WebDir = filepath.Join("web", "dist")
	}
	ro := cfg.Runtime
	ro.DataDir, ro.Logger = cfg.DataDir, cfg.Logger
	if cfg.TimeScale != 0 {
		ro.TimeScale = cfg.TimeScale
	}
	rt, err := OpenRuntime(ro)
	if err != nil {
		return nil, err
	}
	h, err := Handler(rt, cfg)
	if err != nil {
		rt.Close()
		return nil, err
	}
	return &Server{cfg: cfg, log: cfg.Logger, rt: rt,
		http: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}}, nil
}

// Runtime is the server's runtime.
func (s *Server) Runtime() *Runtime { return s.rt }

// Handler is the local server's whole HTTP surface on rt.
func Handler(rt *Runtime, cfg Config) (http.Handler, error) {
	authn := cfg.Authenticator
	if authn == nil {
		authn = noIdentity
	}
	info := map[string]any{"mode": "local"}
	if cfg.DevIdentityProvider != nil {
		info["devIdentityProvider"] = cfg.DevIdentityProvider
	}
	router, err := api.NewRouter(api.Options{Fleet: rt.Fleet, Authenticator: authn, Handlers: cfg.AuthHandlers,
		Logger: cfg.Logger, Version: cfg.Version, HealthInfo: info, Health: func(ctx context.Context) map[string]error {
			return map[string]error{"store": rt.Store.DB().View(func(*bbolt.Tx) error { return nil })}
		}})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", router)
	for pattern, h := range cfg.Mounts {
		mux.Handle(pattern, h)
	}
	mux.Handle("/", dashboard(cfg.WebDir))
	return mux, nil
}

// dashboard serves the built dashboard with a single-page-app fallback
// (unknown paths get index.html), or a pointer to the API docs when it has
// not been built.
func dashboard(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		index := filepath.Join(dir, "index.html")
		if _, err := os.Stat(index); err != nil {
			if r.URL.Path != "/" {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, `<!doctype html><meta charset="utf-8"><title>CML Cloud Manager</title>`+
				`<p>The dashboard is not built (web/dist). The API and its documentation are at <a href="/api/docs">/api/docs</a>.`)
			return
		}
		clean := filepath.Clean("/" + r.URL.Path)
		if clean != "/" && !strings.Contains(filepath.Base(clean), ".") {
			// A client-side route: let the app handle it.
			if _, err := os.Stat(filepath.Join(dir, clean)); err != nil {
				http.ServeFile(w, r, index)
				return
			}
		}
		files.ServeHTTP(w, r)
	})
}

// URL is where the server listens, once Run has started.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Run serves until ctx ends, then shuts down gracefully: it stops taking
// requests and lets in-flight ones finish (each answers only after its
// bbolt commit is fsynced, so no acknowledged write is lost), then stops
// the projector and the automation after their current step, saves the
// sandbox and closes the store.
func (s *Server) Run(ctx context.Context, ready func(url string)) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		s.rt.Close()
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	if s.cfg.SeedDemo {
		// In the background: the demo instances take a (scaled) boot.
		s.rt.Go(func(ctx context.Context) error {
			if err := SeedDemo(ctx, s.rt); err != nil && ctx.Err() == nil {
				s.log.Error("seed the demo fleet", "err", err)
			}
			return nil
		})
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.http.Serve(ln) }()
	if ready != nil {
		ready(s.URL())
	}
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if serr := s.http.Shutdown(shutdownCtx); serr != nil && err == nil {
		err = serr
	}
	if cerr := s.rt.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
