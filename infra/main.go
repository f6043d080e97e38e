// Command infra is the CDK app of CML Cloud Manager: per environment a
// stateful stack (tables, user pool, buckets, secrets, bus), a service stack
// (Lambdas, APIs, CloudFront, workflow, schedules, alarms) and an EC2-event
// forwarder stack per extra worker region. See docs/deploy.md.
//
// The cdk CLI runs it through cdk.json (`cdk synth -c env=dev`); `make synth`
// runs it directly (CDK_OUTDIR=... CMLCM_ENVS=all go run ./infra).
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/jsii-runtime-go"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() error {
	defer jsii.Close()
	root, err := repoRoot()
	if err != nil {
		return err
	}
	outdir := os.Getenv("CDK_OUTDIR") // set by the cdk CLI, or by make synth
	if outdir == "" {
		outdir = filepath.Join(root, "build", "cdk.out")
	}
	app, err := newApp(outdir)
	if err != nil {
		return err
	}
	name := os.Getenv("CMLCM_ENVS")
	if v, ok := app.Node().TryGetContext(jsii.String("env")).(string); ok && v != "" {
		name = v
	}
	envs, err := selectEnvironments(Environments, name)
	if err != nil {
		return err
	}
	assets := Assets{
		LambdaDir:    envOr("CMLCM_LAMBDA_DIR", filepath.Join(root, "build", "lambda")),
		Zipped:       true,
		DashboardDir: envOr("CMLCM_DASHBOARD_DIR", filepath.Join(root, "web", "dist")),
	}
	if err := assets.Check(root); err != nil {
		return err
	}
	if !assets.HasDashboard() {
		fmt.Fprintf(os.Stderr, "infra: no dashboard build in %s: deploying without dashboard files (build web/ to include them)\n", assets.DashboardDir)
	}
	build(app, envs, assets)
	app.Synth(nil)
	return nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// repoRoot finds the module root, so the app works from the repository
// root (cdk) and from infra/ (go run .).
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod) above the working directory")
		}
		dir = parent
	}
}
