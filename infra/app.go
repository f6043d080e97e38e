package main

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// featureFlags are aws-cdk-lib's recommended feature flags for the pinned
// version (recommended-feature-flags.json of the package). The app sets them
// itself rather than in cdk.json so that `go run ./infra`, which the cdk CLI
// does not wrap, synthesizes exactly what `cdk deploy` deploys.
//
//go:embed featureflags.json
var featureFlags []byte

// newApp returns a CDK app writing its cloud assembly to outdir.
func newApp(outdir string) (awscdk.App, error) {
	var flags map[string]any
	if err := json.Unmarshal(featureFlags, &flags); err != nil {
		return nil, fmt.Errorf("featureflags.json: %w", err)
	}
	return awscdk.NewApp(&awscdk.AppProps{
		Outdir:  jsii.String(outdir),
		Context: &flags,
		// No AWS::CDK::Metadata resources (cdk.json says the same to the CLI).
		AnalyticsReporting: jsii.Bool(false),
		// The tree and stack-trace metadata only slow synthesis down.
		TreeMetadata: jsii.Bool(false),
		StackTraces:  jsii.Bool(false),
	}), nil
}

// Deployment is one environment's stacks.
type Deployment struct {
	Env        Environment
	Stateful   *Stateful
	Service    *Service
	Forwarders []awscdk.Stack
}

// Stacks are all the deployment's stacks.
func (d *Deployment) Stacks() []awscdk.Stack {
	return append([]awscdk.Stack{d.Stateful.Stack, d.Service.Stack}, d.Forwarders...)
}

// build adds every stack of the environments to the app and applies the
// cdk-nag AwsSolutions pack, whose unsuppressed findings are synthesis
// errors (the cdk CLI refuses to deploy them).
func build(app awscdk.App, envs []Environment, assets Assets) []*Deployment {
	var out []*Deployment
	for _, env := range envs {
		d := &Deployment{Env: env}
		d.Stateful = newStateful(app, env, assets)
		d.Service = newService(app, env, assets, d.Stateful)
		for _, w := range forwarderTargets(env) {
			d.Forwarders = append(d.Forwarders, newForwarder(app, env, w))
		}
		for _, s := range d.Stacks() {
			awscdk.Tags_Of(s).Add(jsii.String("cmlcm:env"), jsii.String(env.Name), nil)
			awscdk.Tags_Of(s).Add(jsii.String("cmlcm:app"), jsii.String("cml-cloud-manager"), nil)
		}
		suppress(d)
		out = append(out, d)
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return out
}
