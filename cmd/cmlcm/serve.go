package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/cmlcm/cmlcm/internal/local"
)

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func serve(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", envOr("CMLCM_ADDR", "127.0.0.1:8080"), "listen address (env CMLCM_ADDR)")
	data := fs.String("data", envOr("CMLCM_DATA", "./.cmlcm"), "data directory (env CMLCM_DATA)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	srv, err := local.New(local.Config{Addr: *addr, DataDir: *data, Logger: slog.Default()})
	if err != nil {
		return err
	}
	return srv.Run(ctx, func(url string) {
		fmt.Fprintf(stdout, "CML Cloud Manager is running at %s (data in %s). Press Ctrl-C to stop.\n", url, *data)
	})
}
