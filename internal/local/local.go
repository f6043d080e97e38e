// Package local is the in-process AWS fabric of the all-in-one server: it
// opens the embedded store, runs the projector on the store's change feed,
// and serves HTTP, calling the same handlers the Lambdas call.
package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/cmlcm/cmlcm/internal/bus"
	esbolt "github.com/cmlcm/cmlcm/internal/eventstore/bolt"
	"github.com/cmlcm/cmlcm/internal/projector"
	rmbolt "github.com/cmlcm/cmlcm/internal/readmodel/bolt"
)

// Config is the local server's configuration.
type Config struct {
	Addr    string // listen address, e.g. 127.0.0.1:8080
	DataDir string // everything the server keeps lives here
	Logger  *slog.Logger
}

// Server is a running local server.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store *esbolt.Store
	rm    *rmbolt.Store
	bus   *bus.Local
	feed  *esbolt.Feed
	http  *http.Server
	ln    net.Listener
}

// New opens the data directory and prepares the server.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	store, err := esbolt.Open(filepath.Join(cfg.DataDir, "cmlcm.db"), esbolt.WithLogger(cfg.Logger))
	if err != nil {
		return nil, err
	}
	rm, err := rmbolt.New(store.DB())
	if err != nil {
		store.Close()
		return nil, err
	}
	feed, err := esbolt.NewFeed(store, "projector")
	if err != nil {
		store.Close()
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, store: store, rm: rm, bus: bus.NewLocal(), feed: feed}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// URL is where the server listens, once Serve has started.
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.ln.Addr().String()
}

// Run serves until ctx ends, then shuts down gracefully: it stops taking
// requests, lets in-flight ones finish, stops the projector after its
// current batch, and closes the store (every acknowledged write is already
// durable: bbolt commits are fsynced before a request is answered).
func (s *Server) Run(ctx context.Context, ready func(url string)) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		s.store.Close()
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	p := projector.New(projector.Projections(s.store, s.rm), s.rm, s.bus, s.log)
	feedCtx, stopFeed := context.WithCancel(context.Background())
	feedDone := make(chan error, 1)
	go func() { feedDone <- s.feed.Run(feedCtx, p.Handle) }()

	serveErr := make(chan error, 1)
	go func() { serveErr <- s.http.Serve(ln) }()
	if ready != nil {
		ready(s.URL())
	}
	select {
	case <-ctx.Done():
	case err = <-serveErr:
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if serr := s.http.Shutdown(shutdownCtx); serr != nil && err == nil {
		err = serr
	}
	stopFeed()
	if ferr := <-feedDone; ferr != nil && !errors.Is(ferr, context.Canceled) && err == nil {
		err = ferr
	}
	if cerr := s.store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}
