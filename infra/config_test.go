package main

import (
	"strings"
	"testing"
)

// rawEnv is a minimal valid environment as written in environments.go.
func rawEnv() Environment {
	return Environment{
		Account: "123456789012", Region: "eu-west-1",
		Keycloak:      Keycloak{IssuerURL: "https://kc.example.com/realms/cml", ClientID: "c"},
		WorkerRegions: []WorkerRegion{{Region: "eu-west-1"}},
	}
}

func validEnv() Environment {
	e := rawEnv()
	e.Name = "test"
	return e.withDefaults()
}

func TestShippedEnvironmentsAreValid(t *testing.T) {
	envs, err := selectEnvironments(Environments, "all")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]Environment{}
	for _, e := range envs {
		names[e.Name] = e
	}
	// The product's promise: production keeps its data, dev can vanish.
	if !names["prod"].Retain {
		t.Error("prod must retain data")
	}
	if names["dev"].Retain {
		t.Error("dev must not retain data")
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Environment)
		want   string
	}{
		{"bad account", func(e *Environment) { e.Account = "12" }, "account"},
		{"bad region", func(e *Environment) { e.Region = "europe" }, "region"},
		{"domain without certificate", func(e *Environment) { e.Domain = "x.example.com" }, "certificateARN go together"},
		{"certificate outside us-east-1", func(e *Environment) {
			e.Domain = "x.example.com"
			e.CertificateARN = "arn:aws:acm:eu-west-1:123456789012:certificate/abc"
		}, "us-east-1"},
		{"http issuer", func(e *Environment) { e.Keycloak.IssuerURL = "http://kc/realms/x" }, "https"},
		{"no client", func(e *Environment) { e.Keycloak.ClientID = "" }, "clientID"},
		{"no worker region", func(e *Environment) { e.WorkerRegions = nil }, "worker region"},
		{"bad role", func(e *Environment) { e.WorkerRegions[0].RoleARN = "role" }, "roleARN"},
		{"bad subnet", func(e *Environment) { e.WorkerRegions[0].SubnetIDs = []string{"sub-1"} }, "subnet"},
		{"bad security group", func(e *Environment) { e.WorkerRegions[0].SecurityGroupIDs = []string{"x"} }, "security group"},
		{"duplicate region", func(e *Environment) { e.WorkerRegions = append(e.WorkerRegions, e.WorkerRegions[0]) }, "twice"},
		{"retention", func(e *Environment) { e.LogRetentionDays = 2 }, "logRetentionDays"},
		{"cognito prefix", func(e *Environment) { e.CognitoDomainPrefix = "my-aws-login" }, "cognitoDomainPrefix"},
	}
	if err := validEnv().Validate(); err != nil {
		t.Fatalf("valid environment rejected: %v", err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := validEnv()
			e.WorkerRegions = append([]WorkerRegion(nil), e.WorkerRegions...)
			tc.mutate(&e)
			err := e.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
}

func TestSelectEnvironments(t *testing.T) {
	all := map[string]Environment{"dev": rawEnv(), "prod": rawEnv()}
	if _, err := selectEnvironments(all, ""); err == nil || !strings.Contains(err.Error(), "-c env=<dev|prod|all>") {
		t.Errorf("no selection: %v", err)
	}
	if _, err := selectEnvironments(all, "qa"); err == nil || !strings.Contains(err.Error(), "unknown environment") {
		t.Errorf("unknown: %v", err)
	}
	got, err := selectEnvironments(all, "prod")
	if err != nil || len(got) != 1 || got[0].Name != "prod" {
		t.Errorf("prod: %v %v", got, err)
	}
	got, err = selectEnvironments(all, "all")
	if err != nil || len(got) != 2 || got[0].Name != "dev" || got[1].Name != "prod" {
		t.Errorf("all: %v %v", got, err)
	}
	if got[0].CognitoDomainPrefix != "cmlcm-dev-123456789012" || got[0].Keycloak.ClientSecretName != "cmlcm/dev/keycloak-client" {
		t.Errorf("defaults not applied: %+v", got[0])
	}
}

func TestForwarderTargets(t *testing.T) {
	e := validEnv()
	e.WorkerRegions = []WorkerRegion{
		{Region: "eu-west-1"},
		{Region: "us-east-1"},
		{Region: "eu-west-1", RoleARN: "arn:aws:iam::999999999999:role/w"},
	}
	var names []string
	for _, w := range forwarderTargets(e) {
		names = append(names, forwarderStackName(e, w))
	}
	want := "cmlcm-test-ec2events-us-east-1,cmlcm-test-ec2events-999999999999-eu-west-1"
	if strings.Join(names, ",") != want {
		t.Errorf("forwarders %v, want %s", names, want)
	}
}
