// Package routes is the single source of truth for the REST API's routes:
// method, path, the roles allowed, and the AWS permissions the route's
// Lambda needs. It is pure data so that everything derived from it — the
// local router and handler binding (internal/api), the OpenAPI document,
// the per-route Lambdas and API Gateway methods (infra/), and the RBAC
// tests — can import it without pulling in any run-time code.
package routes

import (
	"slices"
	"strings"
)

// Roles.
const (
	RoleAdmin   = "admin"
	RoleManager = "manager"
	RoleUser    = "user"
)

// Access says who may call a route.
type Access int

const (
	// Public routes need no authentication.
	Public Access = iota
	// SignedIn routes need a valid identity, with any role or none.
	SignedIn
	// Roles routes need one of Route.Roles.
	Roles
)

// Resource groups of the AWS permissions a route's Lambda needs. infra/
// turns them into least-privilege IAM statements on the environment's
// resources.
const (
	ReadWorkers     = "workers:read"     // read-model tables (workers, labs, activity)
	ReadTelemetry   = "telemetry:read"   // telemetry table
	WriteEvents     = "events:write"     // events table (append, load)
	ReadEvents      = "events:read"      // events table (load, history)
	Sessions        = "sessions:rw"      // sessions table
	EC2Control      = "ec2:control"      // start/stop/terminate/tag managed instances
	EC2Describe     = "ec2:describe"     // describe/discover instances and images
	EC2Launch       = "ec2:launch"       // RunInstances with managed tags (via the workflow)
	StartWorkflow   = "states:start"     // start the provisioning state machine
	CMLCredentials  = "secrets:cml"      // read the CML worker API credentials secret
	LicenseSecrets  = "secrets:license"  // read/write license token secrets
	OIDCClient      = "secrets:oidc"     // read the OIDC client secret
	PublishEvents   = "bus:publish"      // put events on the integration bus
	ReadSettings    = "settings:read"    // load fleet settings (events table)
	CloudWatchRead  = "cloudwatch:read"  // GetMetricData
	InvokeAutomated = "lambda:automated" // hand a job to the automation (license jobs, refresh)
)

// Route is one API operation.
type Route struct {
	// Name is a stable identifier (operationId, Lambda name suffix).
	Name    string
	Method  string
	Path    string // ServeMux pattern syntax: /api/workers/{id}
	Summary string
	Access  Access
	Roles   []string
	// Permissions are resource groups (constants above).
	Permissions []string
	// Tag groups operations in the API docs.
	Tag string
}

// Pattern is the net/http ServeMux pattern ("GET /api/workers/{id}").
func (r Route) Pattern() string { return r.Method + " " + r.Path }

// Allows reports whether a principal with roles may call the route
// (authentication aside).
func (r Route) Allows(roles []string) bool {
	switch r.Access {
	case Public, SignedIn:
		return true
	default:
		for _, role := range roles {
			if slices.Contains(r.Roles, role) {
				return true
			}
		}
		return false
	}
}

// PathParams lists the {name} parameters of the path, in order.
func (r Route) PathParams() []string {
	var out []string
	for _, seg := range strings.Split(r.Path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}"))
		}
	}
	return out
}

var (
	anyRole     = []string{RoleUser, RoleManager, RoleAdmin}
	managerUp   = []string{RoleManager, RoleAdmin}
	adminOnly   = []string{RoleAdmin}
	readFleet   = []string{ReadWorkers}
	workerCmd   = []string{ReadWorkers, WriteEvents, ReadEvents}
	workerCloud = []string{ReadWorkers, WriteEvents, ReadEvents, EC2Control, EC2Describe}
	labCmd      = []string{ReadWorkers, WriteEvents, ReadEvents, CMLCredentials}
)

func cat(groups ...[]string) []string { return slices.Concat(groups...) }

// All is the route table.
var All = []Route{
	{Name: "health", Method: "GET", Path: "/api/health", Summary: "Liveness and build information", Access: Public, Tag: "system"},
	{Name: "openapi", Method: "GET", Path: "/api/openapi.json", Summary: "This API's OpenAPI 3.1 document", Access: Public, Tag: "system"},
	{Name: "docs", Method: "GET", Path: "/api/docs", Summary: "Interactive API documentation", Access: Public, Tag: "system"},

	{Name: "authLogin", Method: "GET", Path: "/api/auth/login", Summary: "Start the OIDC login (authorization code + PKCE)", Access: Public, Permissions: []string{Sessions, OIDCClient}, Tag: "auth"},
	{Name: "authCallback", Method: "GET", Path: "/api/auth/callback", Summary: "OIDC callback: creates the session", Access: Public, Permissions: []string{Sessions, OIDCClient}, Tag: "auth"},
	{Name: "authLogout", Method: "POST", Path: "/api/auth/logout", Summary: "End the session", Access: SignedIn, Permissions: []string{Sessions}, Tag: "auth"},
	{Name: "authMe", Method: "GET", Path: "/api/auth/me", Summary: "Who am I: identity, roles, session expiry", Access: SignedIn, Permissions: []string{Sessions}, Tag: "auth"},

	{Name: "listWorkers", Method: "GET", Path: "/api/workers", Summary: "List workers (filters: region, status, text)", Access: Roles, Roles: anyRole, Permissions: readFleet, Tag: "workers"},
	{Name: "createWorker", Method: "POST", Path: "/api/workers", Summary: "Create and provision a worker", Access: Roles, Roles: adminOnly, Permissions: cat(workerCmd, []string{StartWorkflow, ReadSettings, LicenseSecrets}), Tag: "workers"},
	{Name: "importWorkers", Method: "POST", Path: "/api/workers/import", Summary: "Import workers by instance id, or discover by tag/AMI pattern", Access: Roles, Roles: adminOnly, Permissions: cat(workerCmd, []string{EC2Describe, StartWorkflow, ReadSettings}), Tag: "workers"},
	{Name: "getWorker", Method: "GET", Path: "/api/workers/{id}", Summary: "Get a worker", Access: Roles, Roles: anyRole, Permissions: readFleet, Tag: "workers"},
	{Name: "deleteWorker", Method: "DELETE", Path: "/api/workers/{id}", Summary: "Remove a worker, terminating its instance or not (?terminate=true|false)", Access: Roles, Roles: adminOnly, Permissions: workerCloud, Tag: "workers"},
	{Name: "workerEvents", Method: "GET", Path: "/api/workers/{id}/events", Summary: "A worker's audit history, newest first, paged", Access: Roles, Roles: anyRole, Permissions: readFleet, Tag: "workers"},
	{Name: "workerMetrics", Method: "GET", Path: "/api/workers/{id}/metrics", Summary: "A worker's telemetry series (?from&to)", Access: Roles, Roles: anyRole, Permissions: []string{ReadWorkers, ReadTelemetry}, Tag: "workers"},
	{Name: "startWorker", Method: "POST", Path: "/api/workers/{id}/start", Summary: "Start (wake) a worker", Access: Roles, Roles: anyRole, Permissions: workerCloud, Tag: "workers"},
	{Name: "stopWorker", Method: "POST", Path: "/api/workers/{id}/stop", Summary: "Stop (pause) a worker", Access: Roles, Roles: managerUp, Permissions: workerCloud, Tag: "workers"},
	{Name: "refreshWorker", Method: "POST", Path: "/api/workers/{id}/refresh", Summary: "Refresh a worker's EC2 and CML facts now", Access: Roles, Roles: anyRole, Permissions: cat(workerCmd, []string{EC2Describe, CMLCredentials, CloudWatchRead}), Tag: "workers"},
	{Name: "setIdlePolicy", Method: "PUT", Path: "/api/workers/{id}/idle-policy", Summary: "Set a worker's idle policy", Access: Roles, Roles: managerUp, Permissions: workerCmd, Tag: "workers"},
	{Name: "setSchedule", Method: "PUT", Path: "/api/workers/{id}/schedule", Summary: "Set a worker's wake-up schedule", Access: Roles, Roles: managerUp, Permissions: workerCmd, Tag: "workers"},
	{Name: "registerLicense", Method: "POST", Path: "/api/workers/{id}/license", Summary: "Register the worker's CML license (202, runs in the background)", Access: Roles, Roles: managerUp, Permissions: cat(workerCmd, []string{LicenseSecrets, InvokeAutomated}), Tag: "workers"},
	{Name: "deregisterLicense", Method: "DELETE", Path: "/api/workers/{id}/license", Summary: "Deregister the worker's CML license (202)", Access: Roles, Roles: managerUp, Permissions: cat(workerCmd, []string{InvokeAutomated}), Tag: "workers"},
	{Name: "setTags", Method: "PUT", Path: "/api/workers/{id}/tags", Summary: "Replace a worker's user tags", Access: Roles, Roles: adminOnly, Permissions: workerCloud, Tag: "workers"},

	{Name: "listLabs", Method: "GET", Path: "/api/workers/{id}/labs", Summary: "List a worker's labs", Access: Roles, Roles: anyRole, Permissions: readFleet, Tag: "labs"},
	{Name: "importLab", Method: "POST", Path: "/api/workers/{id}/labs", Summary: "Import a topology YAML (raw or multipart)", Access: Roles, Roles: managerUp, Permissions: labCmd, Tag: "labs"},
	{Name: "getLab", Method: "GET", Path: "/api/workers/{id}/labs/{labId}", Summary: "Get a lab", Access: Roles, Roles: anyRole, Permissions: readFleet, Tag: "labs"},
	{Name: "deleteLab", Method: "DELETE", Path: "/api/workers/{id}/labs/{labId}", Summary: "Delete a lab", Access: Roles, Roles: managerUp, Permissions: labCmd, Tag: "labs"},
	{Name: "labTopology", Method: "GET", Path: "/api/workers/{id}/labs/{labId}/topology", Summary: "Download a lab's topology YAML", Access: Roles, Roles: anyRole, Permissions: []string{ReadWorkers, CMLCredentials}, Tag: "labs"},
	{Name: "startLab", Method: "POST", Path: "/api/workers/{id}/labs/{labId}/start", Summary: "Start a lab", Access: Roles, Roles: anyRole, Permissions: labCmd, Tag: "labs"},
	{Name: "stopLab", Method: "POST", Path: "/api/workers/{id}/labs/{labId}/stop", Summary: "Stop a lab", Access: Roles, Roles: anyRole, Permissions: labCmd, Tag: "labs"},
	{Name: "wipeLab", Method: "POST", Path: "/api/workers/{id}/labs/{labId}/wipe", Summary: "Wipe a lab", Access: Roles, Roles: managerUp, Permissions: labCmd, Tag: "labs"},

	{Name: "fleetSummary", Method: "GET", Path: "/api/fleet/summary", Summary: "Counts by status, running cost per hour, hours and dollars saved by auto-pause", Access: Roles, Roles: anyRole, Permissions: []string{ReadWorkers, ReadSettings, ReadEvents}, Tag: "fleet"},
	{Name: "getSettings", Method: "GET", Path: "/api/settings", Summary: "Fleet settings", Access: Roles, Roles: adminOnly, Permissions: []string{ReadSettings, ReadEvents}, Tag: "settings"},
	{Name: "putSettings", Method: "PUT", Path: "/api/settings", Summary: "Change fleet settings (takes effect on the next tick)", Access: Roles, Roles: adminOnly, Permissions: []string{ReadSettings, WriteEvents, ReadEvents}, Tag: "settings"},
}

// ByName returns the route with that name.
func ByName(name string) (Route, bool) {
	for _, r := range All {
		if r.Name == name {
			return r, true
		}
	}
	return Route{}, false
}
