package main

import (
	"context"
	"io"

	"github.com/cmlcm/cmlcm/internal/cmlsim"
)

func cmlsimMain(ctx context.Context, args []string, stdout io.Writer) error {
	return cmlsim.Main(ctx, args, stdout)
}
