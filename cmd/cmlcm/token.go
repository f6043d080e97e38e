package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/cmlcm/cmlcm/internal/auth/devidp"
)

// token prints a bearer token from a running local server's development
// identity provider (OAuth 2.0 password grant), for scripts:
//
//	curl -H "Authorization: Bearer $(cmlcm token --user admin)" …
//
// devidp.Token refuses any server that does not say it runs in local mode:
// real deployments sign people in through their identity provider, never
// with a password sent by a CLI.
func token(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.SetOutput(stdout)
	server := fs.String("server", envOr("CMLCM_SERVER", "http://127.0.0.1:8080"), "local server URL (env CMLCM_SERVER)")
	user := fs.String("user", "admin", "demo user: admin, manager, user or guest")
	password := fs.String("password", "test", "the user's password")
	if err := fs.Parse(args); err != nil {
		return err
	}
	tok, err := devidp.Token(ctx, *server, *user, *password)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}
