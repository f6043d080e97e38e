package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
)

// loginClient is the Cognito app client the API's OIDC login uses
// (authorization code + PKCE through the hosted UI, federated to Keycloak).
// It lives in the service stack because its callback URL is the
// distribution's, which the stateful stack cannot know.
type loginClient struct {
	Client awscognito.UserPoolClient
	// Secret holds {"clientId","clientSecret","issuer"} for the login
	// routes and the authorizer (token refresh): the client secret comes
	// from CloudFormation (GetAtt), never from the template's text.
	Secret awssecretsmanager.Secret
}

func newLoginClient(stack awscdk.Stack, env Environment, id *Identity, publicURL string) *loginClient {
	client := awscognito.NewUserPoolClient(stack, jsii.String("LoginClient"), &awscognito.UserPoolClientProps{
		UserPool:           id.Pool,
		UserPoolClientName: jsii.String(env.prefix() + "-web"),
		GenerateSecret:     jsii.Bool(true),
		OAuth: &awscognito.OAuthSettings{
			Flows:        &awscognito.OAuthFlows{AuthorizationCodeGrant: jsii.Bool(true)},
			Scopes:       &[]awscognito.OAuthScope{awscognito.OAuthScope_OPENID(), awscognito.OAuthScope_EMAIL(), awscognito.OAuthScope_PROFILE()},
			CallbackUrls: jsii.Strings(publicURL + "/api/auth/callback"),
			LogoutUrls:   jsii.Strings(publicURL + "/"),
		},
		SupportedIdentityProviders: &[]awscognito.UserPoolClientIdentityProvider{
			awscognito.UserPoolClientIdentityProvider_Custom(jsii.String(id.ProviderName)),
		},
		// Only the hosted UI: no password flows against the pool.
		AuthFlows:                  &awscognito.AuthFlow{},
		PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation:      jsii.Bool(true),
		AccessTokenValidity:        awscdk.Duration_Hours(jsii.Number(1)),
		IdTokenValidity:            awscdk.Duration_Hours(jsii.Number(1)),
		RefreshTokenValidity:       awscdk.Duration_Hours(jsii.Number(12)),
	})
	cfn := client.Node().DefaultChild().(awscognito.CfnUserPoolClient)
	secret := awssecretsmanager.NewSecret(stack, jsii.String("LoginClientSecret"), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String(secretsPrefix(env) + "oidc-client"),
		Description: jsii.String("OIDC login client of the API (Cognito app client id, secret and issuer)"),
		SecretObjectValue: &map[string]awscdk.SecretValue{
			"clientId":     awscdk.SecretValue_UnsafePlainText(client.UserPoolClientId()),
			"clientSecret": awscdk.SecretValue_ResourceAttribute(cfn.AttrClientSecret()),
			"issuer":       awscdk.SecretValue_UnsafePlainText(jsii.String(id.issuer(env))),
		},
		// Derived from the app client: recreated with it.
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	return &loginClient{Client: client, Secret: secret}
}
