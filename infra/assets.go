package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// Lambda binaries. Every API route runs the same `api` binary, which
// serves the route named by ROUTE_NAME.
const (
	fnAPI        = "api"
	fnAuthorizer = "authorizer"
	fnProjector  = "projector"
	fnNotifier   = "notifier"
	fnWS         = "ws"
	fnTick       = "tick"
	fnEC2Events  = "ec2events"
	fnProvision  = "provision"
	fnPreToken   = "pretoken"
)

// lambdaBinaries are every binary the stacks deploy.
var lambdaBinaries = []string{fnAPI, fnAuthorizer, fnProjector, fnNotifier, fnWS, fnTick, fnEC2Events, fnProvision, fnPreToken}

// Assets says where the Lambda code and the dashboard files come from.
type Assets struct {
	// LambdaDir holds <fn>.zip (from `make build`) or, when Zipped is
	// false, <fn>/bootstrap directories (the tests' fixtures).
	LambdaDir string
	Zipped    bool
	// DashboardDir holds the built dashboard (web/dist); empty or missing
	// skips the upload.
	DashboardDir string
}

// Check fails naming every missing binary, before any construct is built,
// so `make synth` says what to do instead of failing deep in jsii. root,
// when set, is the repository: binaries without a lambdas/<fn> yet are
// named as such.
func (a Assets) Check(root string) error {
	var missing, unwritten []string
	for _, fn := range lambdaBinaries {
		if _, err := os.Stat(a.path(fn)); err == nil {
			continue
		}
		missing = append(missing, a.path(fn))
		if root != "" {
			if _, err := os.Stat(filepath.Join(root, "lambdas", fn, "main.go")); err != nil {
				unwritten = append(unwritten, "lambdas/"+fn)
			}
		}
	}
	if len(missing) == 0 {
		return nil
	}
	msg := fmt.Sprintf("Lambda code missing: %s — run `make build` first (it builds every lambdas/<fn> into %s/<fn>.zip)",
		strings.Join(missing, ", "), a.LambdaDir)
	if len(unwritten) > 0 {
		msg += "; these have no source yet: " + strings.Join(unwritten, ", ")
	}
	return errors.New(msg)
}

func (a Assets) path(fn string) string {
	if a.Zipped {
		return filepath.Join(a.LambdaDir, fn+".zip")
	}
	return filepath.Join(a.LambdaDir, fn)
}

// Code returns the asset of a binary. A zip is uploaded as it is (its hash
// is its content); a directory is zipped by CDK at synthesis.
func (a Assets) Code(fn string) awslambda.Code {
	return awslambda.Code_FromAsset(jsii.String(a.path(fn)), nil)
}

// HasDashboard reports whether built dashboard files exist.
func (a Assets) HasDashboard() bool {
	if a.DashboardDir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(a.DashboardDir, "index.html"))
	return err == nil
}
