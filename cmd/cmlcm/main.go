// Command cmlcm is CML Cloud Manager's local all-in-one server and operator
// CLI. It only wires: the logic lives in internal/.
//
//	cmlcm serve  [--addr 127.0.0.1:8080] [--data ./.cmlcm] [--time-scale 30] [--seed-demo]   run the product locally
//	cmlcm token  [--server URL] [--user admin] [--password test]   print a bearer token (local mode only)
//	cmlcm cmlsim [--addr 127.0.0.1:9443] [...]               serve one simulated CML controller
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	slog.SetDefault(slog.New(slog.NewJSONHandler(os.Stderr, nil)))
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "cmlcm:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		usage(stdout)
		return fmt.Errorf("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, rest, stdout)
	case "token":
		return token(ctx, rest, stdout)
	case "cmlsim":
		return cmlsimMain(ctx, rest, stdout)
	case "help", "-h", "--help":
		usage(stdout)
		return nil
	default:
		usage(stdout)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `usage: cmlcm <command> [flags]

commands:
  serve    run the product locally (embedded store, sandbox cloud)
  token    print a bearer token from a local server's development identity provider
  cmlsim   serve one simulated CML 2.9 controller
`)
}
