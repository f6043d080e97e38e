package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/cmlcm/cmlcm/internal/local"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// version is set at build time (-ldflags -X main.version=…).
var version = "dev"

func serve(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", envOr("CMLCM_ADDR", "127.0.0.1:8080"), "listen address (env CMLCM_ADDR)")
	data := fs.String("data", envOr("CMLCM_DATA", "./.cmlcm"), "data directory (env CMLCM_DATA)")
	scaleDefault, err := strconv.ParseFloat(envOr("CMLCM_TIME_SCALE", "30"), 64)
	if err != nil {
		return fmt.Errorf("CMLCM_TIME_SCALE: %w", err)
	}
	scale := fs.Float64("time-scale", scaleDefault, "speed-up of the sandbox's simulated EC2/CML durations; 30 boots a metal worker in 30 s (env CMLCM_TIME_SCALE)")
	seed := fs.Bool("seed-demo", os.Getenv("CMLCM_SEED_DEMO") == "1", "create a small demo fleet when there is none (env CMLCM_SEED_DEMO=1)")
	tick := fs.Duration("tick", 0, "automation tick interval (default 1m; env CMLCM_TICK)")
	web := fs.String("web", envOr("CMLCM_WEB", "web/dist"), "directory of the built dashboard (env CMLCM_WEB)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tick == 0 {
		d, err := time.ParseDuration(envOr("CMLCM_TICK", "1m"))
		if err != nil {
			return fmt.Errorf("CMLCM_TICK: %w", err)
		}
		*tick = d
	}
	if *tick < time.Second {
		return fmt.Errorf("--tick must be at least 1s")
	}
	if *scale <= 0 {
		return fmt.Errorf("--time-scale must be positive")
	}
	cfg := local.Config{Addr: *addr, DataDir: *data, TimeScale: *scale, WebDir: *web, SeedDemo: *seed,
		Version: version, Logger: slog.Default(), Runtime: local.RuntimeOptions{Tick: *tick}}
	if err := wireAuth(&cfg); err != nil {
		return err
	}
	srv, err := local.New(cfg)
	if err != nil {
		return err
	}
	return srv.Run(ctx, func(url string) {
		signIn := fmt.Sprintf(`  Sign in as    admin, manager, user or guest (no role) — password "test"
  Script token  cmlcm token --server %s --user admin
`, url)
		if cfg.Authenticator == nil {
			signIn = "  Sign in       not available: no identity provider is wired (internal/auth)\n"
		}
		fmt.Fprintf(stdout, `CML Cloud Manager is running (data in %s, sandbox time x%g).

  Open          %s/
  API docs      %s/api/docs
%s
Press Ctrl-C to stop.
`, *data, *scale, url, url, signIn)
	})
}

// wireAuth connects internal/auth (the verifier, the OIDC handlers and the
// development identity provider) to the local server.
func wireAuth(cfg *local.Config) error {
	// internal/auth is wired here once it lands (see the report of issue 4):
	// cfg.Authenticator, cfg.AuthHandlers, cfg.Mounts and
	// cfg.DevIdentityProvider.
	return nil
}
