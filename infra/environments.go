package main

// Environments are the deployments of the product. Edit them for your
// accounts before the first deploy (docs/deploy.md): the values below are
// placeholders that synthesize but do not deploy. `cdk deploy -c env=dev`
// selects one.
//
// They live in Go rather than in cdk.json context so that `go run ./infra`
// (which the cdk CLI does not wrap) and `cdk synth` see exactly the same
// configuration, and a typo fails to compile instead of deploying.
var Environments = map[string]Environment{
	"dev": {
		Account: "111111111111",
		Region:  "eu-west-1",
		Keycloak: Keycloak{
			IssuerURL: "https://sso.example.com/realms/cml",
			ClientID:  "cmlcm-cognito",
		},
		WorkerRegions: []WorkerRegion{
			{Region: "eu-west-1", AMINamePatterns: []string{"cml2-2.9*"}},
			// A second region in the same account: its EC2 events reach
			// the home bus through a forwarder stack.
			{Region: "us-east-1", AMINamePatterns: []string{"cml2-2.9*"}},
		},
		LogRetentionDays: 14,
		EventArchiveDays: 30,
		Retain:           false,
		APIRateLimit:     20,
		APIBurstLimit:    40,
	},
	"prod": {
		Account:        "222222222222",
		Region:         "eu-west-1",
		Domain:         "cml.example.com",
		CertificateARN: "arn:aws:acm:us-east-1:222222222222:certificate/00000000-0000-0000-0000-000000000000",
		Keycloak: Keycloak{
			IssuerURL: "https://sso.example.com/realms/cml",
			ClientID:  "cmlcm-cognito",
		},
		WorkerRegions: []WorkerRegion{
			{
				Region:           "eu-west-1",
				SubnetIDs:        []string{"subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"},
				SecurityGroupIDs: []string{"sg-0a1b2c3d4e5f60001"},
				AMINamePatterns:  []string{"cml2-2.9*"},
			},
			// Workers in another account: our Lambdas assume this role
			// there (docs/deploy.md shows its policy).
			{
				Region:           "us-west-2",
				RoleARN:          "arn:aws:iam::333333333333:role/cmlcm-prod-workers",
				SubnetIDs:        []string{"subnet-0a1b2c3d4e5f60003"},
				SecurityGroupIDs: []string{"sg-0a1b2c3d4e5f60002"},
				AMINamePatterns:  []string{"cml2-2.9*"},
			},
		},
		LogRetentionDays: 365,
		EventArchiveDays: 0,
		Retain:           true,
		APIRateLimit:     100,
		APIBurstLimit:    200,
	},
}
