package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
)

// Identity is the Cognito user pool that federates Keycloak. People sign in
// at Keycloak only (no local users, no self sign-up); Keycloak's realm roles
// arrive as the custom:roles attribute, and the pre-token-generation trigger
// copies them into the access token the authorizer reads.
type Identity struct {
	Pool awscognito.UserPool
	// ProviderName is the Keycloak provider's name in the pool, the only
	// identity provider app clients may use.
	ProviderName string
	Provider     awscognito.UserPoolIdentityProviderOidc
	Domain       awscognito.UserPoolDomain
	PreToken     awslambda.Function
}

// rolesAttribute is the custom attribute Keycloak's roles are mapped to.
const rolesAttribute = "roles"

func newIdentity(stack awscdk.Stack, env Environment, assets Assets) *Identity {
	id := &Identity{ProviderName: "Keycloak"}
	// The trigger lives here, beside the pool, because the pool refers to
	// it: in the service stack it would make the two stacks depend on each
	// other. It needs no AWS permissions.
	f := newFnFactory(env, assets, &Permissions{env: env}, map[string]string{envEnvironment: env.Name})
	id.PreToken = f.function(stack, fnSpec{
		ID: "PreTokenGeneration", Binary: fnPreToken, Timeout: 5,
		Description: "Cognito pre-token generation: puts Keycloak realm roles into the access token",
		Env:         map[string]string{"ROLES_ATTRIBUTE": "custom:" + rolesAttribute},
	})

	id.Pool = awscognito.NewUserPool(stack, jsii.String("UserPool"), &awscognito.UserPoolProps{
		UserPoolName:      jsii.String(env.prefix() + "-users"),
		SelfSignUpEnabled: jsii.Bool(false),
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		// Access-token customization (the V2 trigger) needs Essentials.
		FeaturePlan: awscognito.FeaturePlan_ESSENTIALS,
		CustomAttributes: &map[string]awscognito.ICustomAttribute{
			// Mutable: federated attributes are rewritten at every sign-in.
			rolesAttribute: awscognito.NewStringAttribute(&awscognito.StringAttributeProps{MaxLen: jsii.Number(2048), Mutable: jsii.Bool(true)}),
		},
		// Nobody signs in with a pool password, but if anyone ever did, it
		// would be a strong one.
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(14), RequireDigits: jsii.Bool(true), RequireLowercase: jsii.Bool(true),
			RequireUppercase: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
			TempPasswordValidity: awscdk.Duration_Days(jsii.Number(1)),
		},
		AccountRecovery:    awscognito.AccountRecovery_NONE,
		DeletionProtection: jsii.Bool(env.Retain),
		RemovalPolicy:      env.removal(),
	})
	id.Pool.AddTrigger(awscognito.UserPoolOperation_PRE_TOKEN_GENERATION_CONFIG(), id.PreToken, awscognito.LambdaVersion_V2_0)

	// The Keycloak client secret is read at deploy time from a secret the
	// operator creates first (a dynamic reference: never in the template).
	secret := awscdk.SecretValue_SecretsManager(jsii.String(env.Keycloak.ClientSecretName),
		&awscdk.SecretsManagerSecretOptions{JsonField: jsii.String("clientSecret")})
	id.Provider = awscognito.NewUserPoolIdentityProviderOidc(stack, jsii.String("Keycloak"), &awscognito.UserPoolIdentityProviderOidcProps{
		UserPool:               id.Pool,
		Name:                   jsii.String(id.ProviderName),
		IssuerUrl:              jsii.String(env.Keycloak.IssuerURL),
		ClientId:               jsii.String(env.Keycloak.ClientID),
		ClientSecret:           secret.UnsafeUnwrap(),
		Scopes:                 jsii.Strings("openid", "email", "profile"),
		AttributeRequestMethod: awscognito.OidcAttributeRequestMethod_GET,
		AttributeMapping: &awscognito.AttributeMapping{
			Email:             awscognito.ProviderAttribute_Other(jsii.String("email")),
			PreferredUsername: awscognito.ProviderAttribute_Other(jsii.String("preferred_username")),
			Custom: &map[string]awscognito.ProviderAttribute{
				"custom:" + rolesAttribute: awscognito.ProviderAttribute_Other(jsii.String(env.Keycloak.RolesClaim)),
			},
		},
	})

	id.Domain = id.Pool.AddDomain(jsii.String("HostedDomain"), &awscognito.UserPoolDomainOptions{
		CognitoDomain: &awscognito.CognitoDomainOptions{DomainPrefix: jsii.String(env.CognitoDomainPrefix)},
	})
	return id
}

// hostedURL is the pool's hosted UI (login, logout, token endpoints).
func (id *Identity) hostedURL(env Environment) string {
	return fmt.Sprintf("https://%s.auth.%s.amazoncognito.com", env.CognitoDomainPrefix, env.Region)
}

// idpResponseURL is the redirect URI Keycloak must allow for Cognito.
func (id *Identity) idpResponseURL(env Environment) string {
	return id.hostedURL(env) + "/oauth2/idpresponse"
}

// issuer is the user pool's token issuer.
func (id *Identity) issuer(env Environment) string {
	return fmt.Sprintf("https://cognito-idp.%s.amazonaws.com/%s", env.Region, *id.Pool.UserPoolId())
}
