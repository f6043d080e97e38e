package cmlsim

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"
)

// Main is the `cmlcm cmlsim` subcommand: it serves one simulated CML
// controller until ctx ends. With --state FILE the labs, licensing, users
// and telemetry are loaded from FILE at start (if it exists) and written
// back on exit, like a worker's disk across a stop/start.
func Main(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cmlsim", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:8443", "listen address HOST:PORT (port 0 picks a free port)")
	username := fs.String("user", "admin", "admin user name")
	password := fs.String("password", "admin", "admin password")
	bootDelay := fs.Duration("boot-delay", 0, "time until system_information reports ready")
	nodeBoot := fs.Duration("node-boot-delay", 0, "time a started node takes to reach BOOTED")
	plain := fs.Bool("plain-http", false, "serve plain HTTP instead of HTTPS with a self-signed certificate")
	stateFile := fs.String("state", "", "file to load state from at start and save it to on exit")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "usage: cmlcm cmlsim --addr HOST:PORT [--user U --password P --boot-delay D --node-boot-delay D --plain-http --state FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("cmlsim: unexpected arguments %q", fs.Args())
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	opts := Options{
		Username: *username, Password: *password, BootDelay: *bootDelay,
		NodeBootDelay: *nodeBoot, Logger: logger,
	}
	if *stateFile != "" {
		b, err := os.ReadFile(*stateFile)
		switch {
		case err == nil:
			opts.State = b
		case !errors.Is(err, os.ErrNotExist):
			return fmt.Errorf("cmlsim: read state: %w", err)
		}
	}
	sim := New(opts)
	url, shutdown, err := Serve(ctx, *addr, sim, !*plain)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cmlsim: CML %s simulator at %s/api/v0/ (user %q)\n", Version, url, *username)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	serr := shutdown(sctx)
	if *stateFile != "" {
		b, err := sim.SaveState()
		if err != nil {
			return err
		}
		if err := os.WriteFile(*stateFile, b, 0o600); err != nil {
			return fmt.Errorf("cmlsim: save state: %w", err)
		}
	}
	if serr != nil && !errors.Is(serr, context.Canceled) {
		return fmt.Errorf("cmlsim: shutdown: %w", serr)
	}
	return nil
}
