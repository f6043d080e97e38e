// Package config reads the settings a Lambda is deployed with from its
// environment. The CDK app sets the same variable names (infra/).
package config

import (
	"fmt"
	"os"
	"strings"
)

// Environment variable names shared with infra/.
const (
	EnvEventsTable      = "EVENTS_TABLE"
	EnvWorkersTable     = "WORKERS_TABLE"
	EnvLabsTable        = "LABS_TABLE"
	EnvActivityTable    = "ACTIVITY_TABLE"
	EnvTelemetryTable   = "TELEMETRY_TABLE"
	EnvSessionsTable    = "SESSIONS_TABLE"
	EnvConnectionsTable = "CONNECTIONS_TABLE"
	EnvEventBus         = "EVENT_BUS_NAME"
	EnvEnvironment      = "CMLCM_ENV"
	// EnvRouteName names the one route an API Lambda serves (routes.All).
	EnvRouteName = "ROUTE_NAME"
	// EnvSecretsPrefix prefixes the Secrets Manager names of the
	// environment's secrets (licence tokens, CML credentials), e.g.
	// "cmlcm/prod/".
	EnvSecretsPrefix = "SECRETS_PREFIX"
)

// Tables names the DynamoDB tables.
type Tables struct {
	Events, Workers, Labs, Activity, Telemetry, Sessions, Connections string
}

// Lookup returns the value of an environment variable.
type Lookup func(string) (string, bool)

// Require reads the named variables and fails naming every missing one, so
// a misconfigured Lambda says exactly what to fix at cold start.
func Require(lookup Lookup, names ...string) (map[string]string, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	out := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		v, ok := lookup(n)
		if !ok || strings.TrimSpace(v) == "" {
			missing = append(missing, n)
			continue
		}
		out[n] = v
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("missing environment variables: %s", strings.Join(missing, ", "))
	}
	return out, nil
}
