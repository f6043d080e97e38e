package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/cmlcm/cmlcm/internal/fleet"
	"github.com/cmlcm/cmlcm/internal/idle"
	"github.com/cmlcm/cmlcm/internal/routes"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// SessionCookie is the session cookie's name as the OpenAPI document
// declares it.
const SessionCookie = "cmlcm_session"

// component schemas: Go types whose JSON Schema the document derives by
// reflection, so the document cannot drift from the code.
var components = []struct {
	name string
	v    any
}{
	{"Worker", fleet.Worker{}},
	{"WorkerPage", fleet.Page[fleet.Worker]{}},
	{"Event", map[string]any{}},
	{"EventPage", fleet.Page[fleet.Event]{}},
	{"Lab", fleet.Lab{}},
	{"LabPage", fleet.Page[fleet.Lab]{}},
	{"Metrics", MetricsResponse{}},
	{"Summary", fleet.Summary{}},
	{"Settings", fleet.Settings{}},
	{"CreateWorker", fleet.CreateRequest{}},
	{"ImportWorkers", fleet.ImportRequest{}},
	{"ImportResult", fleet.ImportResult{}},
	{"IdlePolicy", idle.Policy{}},
	{"Schedule", worker.Schedule{}},
	{"Tags", TagsRequest{}},
	{"License", LicenseRequest{}},
	{"Power", PowerRequest{}},
	{"Principal", Principal{}},
	{"Problem", Problem{}},
	{"Health", healthDoc{}},
}

type healthDoc struct {
	Status  string            `json:"status"`
	Version string            `json:"version"`
	Checks  map[string]string `json:"checks"`
	// Mode is "local" on the local server.
	Mode string `json:"mode,omitempty"`
	// DevIdentityProvider is the local server's OpenID provider, for
	// `cmlcm token`.
	DevIdentityProvider *struct {
		Issuer   string `json:"issuer"`
		ClientID string `json:"clientId"`
	} `json:"devIdentityProvider,omitempty"`
}

// op describes a route's request and success response for the document.
type op struct {
	query    []param
	body     string // component name; "" none
	bodyOpt  bool
	bodyKind string // "json" (default), "merge-patch", "yaml-or-multipart"
	status   int
	resp     string // component name; "" no body
	respKind string // "json" (default), "yaml", "html"
	errors   []int  // besides 401/403 (from access) and 500
}

type param struct {
	name, desc string
	schema     map[string]any
	required   bool
}

var (
	str      = map[string]any{"type": "string"}
	dateTime = map[string]any{"type": "string", "format": "date-time"}
	pCursor  = param{"cursor", "opaque cursor from the previous page's next", str, false}
	pLimit   = param{"limit", "page size", map[string]any{"type": "integer", "minimum": 1, "maximum": fleet.MaxPageSize}, false}
)

var ops = map[string]op{
	"health":       {status: 200, resp: "Health", errors: []int{503}},
	"openapi":      {status: 200, resp: ""},
	"docs":         {status: 200, respKind: "html"},
	"authLogin":    {status: 302},
	"authCallback": {status: 302, errors: []int{400}},
	"authLogout":   {status: 204},
	"authMe":       {status: 200, resp: "Principal"},
	"listWorkers": {query: []param{{"region", "AWS region", str, false}, {"status", "worker status", statusSchema(), false},
		{"text", "matches name, id or instance id", str, false}, pCursor, pLimit}, status: 200, resp: "WorkerPage", errors: []int{400}},
	"createWorker":      {body: "CreateWorker", status: 202, resp: "Worker", errors: []int{400, 413, 502, 503}},
	"importWorkers":     {body: "ImportWorkers", status: 202, resp: "ImportResult", errors: []int{400, 404, 409, 413, 502}},
	"getWorker":         {status: 200, resp: "Worker", errors: []int{404}},
	"deleteWorker":      {query: []param{{"terminate", "true terminates the instance; false only removes the worker", map[string]any{"type": "string", "enum": []string{"true", "false"}}, true}, {"reason", "why, for the history", str, false}}, status: 202, resp: "Worker", errors: []int{400, 404, 409, 502}},
	"workerEvents":      {query: []param{pCursor, pLimit}, status: 200, resp: "EventPage", errors: []int{400, 404}},
	"workerMetrics":     {query: []param{{"from", "start (default: an hour before to)", dateTime, false}, {"to", "end (default: now)", dateTime, false}}, status: 200, resp: "Metrics", errors: []int{400, 404}},
	"startWorker":       {body: "Power", bodyOpt: true, status: 202, resp: "Worker", errors: []int{400, 404, 409, 413, 502}},
	"stopWorker":        {body: "Power", bodyOpt: true, status: 202, resp: "Worker", errors: []int{400, 404, 409, 413, 502}},
	"refreshWorker":     {status: 202, resp: "Worker", errors: []int{404, 409, 502, 503}},
	"setIdlePolicy":     {body: "IdlePolicy", status: 200, resp: "Worker", errors: []int{400, 404, 409, 413}},
	"setSchedule":       {body: "Schedule", status: 200, resp: "Worker", errors: []int{400, 404, 409, 413}},
	"registerLicense":   {body: "License", bodyOpt: true, status: 202, resp: "Worker", errors: []int{400, 404, 409, 413, 502, 503}},
	"deregisterLicense": {status: 202, resp: "Worker", errors: []int{404, 409, 502, 503}},
	"setTags":           {body: "Tags", status: 200, resp: "Worker", errors: []int{400, 404, 409, 413, 502}},
	"listLabs":          {status: 200, resp: "LabPage", errors: []int{404}},
	"importLab":         {query: []param{{"title", "overrides the topology's title", str, false}}, bodyKind: "yaml-or-multipart", status: 201, resp: "Lab", errors: []int{400, 404, 409, 413, 415, 502}},
	"getLab":            {status: 200, resp: "Lab", errors: []int{404}},
	"deleteLab":         {status: 204, errors: []int{404, 409, 502}},
	"labTopology":       {status: 200, respKind: "yaml", errors: []int{404, 409, 502}},
	"startLab":          {status: 202, resp: "Lab", errors: []int{404, 409, 502}},
	"stopLab":           {status: 202, resp: "Lab", errors: []int{404, 409, 502}},
	"wipeLab":           {status: 202, resp: "Lab", errors: []int{404, 409, 502}},
	"fleetSummary":      {status: 200, resp: "Summary"},
	"getSettings":       {status: 200, resp: "Settings"},
	"putSettings":       {bodyKind: "merge-patch", status: 200, resp: "Settings", errors: []int{400, 413, 415}},
}

func statusSchema() map[string]any {
	var enum []string
	for _, s := range worker.Statuses {
		enum = append(enum, string(s))
	}
	return map[string]any{"type": "string", "enum": enum}
}

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

// Document returns the OpenAPI 3.1 document of routes.All.
func Document(version, serverURL string) ([]byte, error) {
	if version == "" {
		version = "dev"
	}
	if serverURL == "" {
		serverURL = "/"
	}
	schemas := map[string]any{}
	for _, c := range components {
		schemas[c.name] = schemaOf(reflect.TypeOf(c.v))
	}
	problemResp := func(status int) map[string]any {
		return map[string]any{"description": http.StatusText(status) + " (see the problem type)",
			"content": map[string]any{"application/problem+json": map[string]any{"schema": ref("Problem")}}}
	}
	paths := map[string]any{}
	for _, rt := range routes.All {
		o, ok := ops[rt.Name]
		if !ok {
			return nil, fmt.Errorf("openapi: route %s has no operation description", rt.Name)
		}
		item, _ := paths[rt.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.Path] = item
		}
		desc := rt.Summary
		switch rt.Access {
		case routes.Public:
			desc += "\n\nPublic."
		case routes.SignedIn:
			desc += "\n\nAny signed-in identity, with or without a role."
		default:
			desc += "\n\nRoles: " + strings.Join(rt.Roles, ", ") + "."
		}
		operation := map[string]any{"operationId": rt.Name, "summary": rt.Summary, "description": desc, "tags": []string{rt.Tag}}
		var params []any
		for _, p := range rt.PathParams() {
			params = append(params, map[string]any{"name": p, "in": "path", "required": true, "schema": str})
		}
		for _, q := range o.query {
			params = append(params, map[string]any{"name": q.name, "in": "query", "required": q.required,
				"description": q.desc, "schema": q.schema})
		}
		if len(params) > 0 {
			operation["parameters"] = params
		}
		switch {
		case o.body != "":
			operation["requestBody"] = map[string]any{"required": !o.bodyOpt,
				"content": map[string]any{"application/json": map[string]any{"schema": ref(o.body)}}}
		case o.bodyKind == "merge-patch":
			obj := map[string]any{"type": "object", "description": "RFC 7386 merge patch of the settings"}
			operation["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/merge-patch+json": map[string]any{"schema": obj}, "application/json": map[string]any{"schema": obj}}}
		case o.bodyKind == "yaml-or-multipart":
			operation["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/yaml": map[string]any{"schema": map[string]any{"type": "string"}},
				"multipart/form-data": map[string]any{"schema": map[string]any{"type": "object", "required": []string{"file"},
					"properties": map[string]any{"file": map[string]any{"type": "string", "contentMediaType": "application/yaml"},
						"title": str}}}}}
		}
		responses := map[string]any{}
		success := map[string]any{"description": http.StatusText(o.status)}
		switch {
		case o.resp != "":
			success["content"] = map[string]any{"application/json": map[string]any{"schema": ref(o.resp)}}
		case rt.Name == "openapi":
			success["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
		case o.respKind == "yaml":
			success["content"] = map[string]any{"application/yaml": map[string]any{"schema": map[string]any{"type": "string"}}}
		case o.respKind == "html":
			success["content"] = map[string]any{"text/html": map[string]any{"schema": map[string]any{"type": "string"}}}
		}
		responses[fmt.Sprint(o.status)] = success
		if rt.Name == "importWorkers" {
			responses["200"] = map[string]any{"description": "Preview, or nothing imported",
				"content": map[string]any{"application/json": map[string]any{"schema": ref("ImportResult")}}}
		}
		if rt.Name == "deleteWorker" {
			responses["204"] = map[string]any{"description": "Removed from the fleet (terminate=false)"}
		}
		errs := slices.Clone(o.errors)
		if rt.Access != routes.Public {
			errs = append(errs, 401)
			operation["security"] = []any{map[string]any{"bearer": []string{}}, map[string]any{"session": []string{}}}
		} else {
			operation["security"] = []any{}
		}
		if rt.Access == routes.Roles {
			errs = append(errs, 403)
		}
		for _, st := range errs {
			responses[fmt.Sprint(st)] = problemResp(st)
		}
		responses["default"] = problemResp(500)
		operation["responses"] = responses
		item[strings.ToLower(rt.Method)] = operation
	}
	var problemTypes []string
	for _, p := range ProblemTypes {
		problemTypes = append(problemTypes, fmt.Sprintf("- `%s` (%d): %s", p.URI(), p.Status, p.Title))
	}
	doc := map[string]any{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info": map[string]any{
			"title":   "CML Cloud Manager API",
			"version": version,
			"description": "Manages a fleet of Cisco Modeling Labs workers on EC2.\n\nErrors are RFC 9457 " +
				"`application/problem+json` with these types:\n\n" + strings.Join(problemTypes, "\n"),
		},
		"servers": []any{map[string]any{"url": serverURL}},
		"tags": []any{
			map[string]any{"name": "system"}, map[string]any{"name": "auth"}, map[string]any{"name": "workers"},
			map[string]any{"name": "labs"}, map[string]any{"name": "fleet"}, map[string]any{"name": "settings"},
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{
				"bearer":  map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": SessionCookie},
			},
		},
	}
	return json.MarshalIndent(doc, "", "  ")
}

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage{})
)

// schemaOf derives a JSON Schema (2020-12) from a Go type the way
// encoding/json encodes it: json tags name the properties, embedded
// structs are flattened (shallower fields win), pointers and maps may be
// null, time.Time is a date-time string, json.RawMessage anything.
func schemaOf(t reflect.Type) map[string]any {
	nullable := false
	for t.Kind() == reflect.Pointer {
		t, nullable = t.Elem(), true
	}
	var s map[string]any
	switch {
	case t == timeType:
		s = map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{}
	case t == reflect.TypeOf(worker.Status("")):
		s = statusSchema()
	}
	if s == nil {
		switch t.Kind() {
		case reflect.String:
			s = map[string]any{"type": "string"}
		case reflect.Bool:
			s = map[string]any{"type": "boolean"}
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
			reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			s = map[string]any{"type": "integer"}
		case reflect.Float32, reflect.Float64:
			s = map[string]any{"type": "number"}
		case reflect.Map:
			s = map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem())}
			nullable = true // a nil map encodes as null
		case reflect.Slice, reflect.Array:
			s = map[string]any{"type": "array", "items": schemaOf(t.Elem())}
			nullable = true
		case reflect.Interface:
			return map[string]any{}
		case reflect.Struct:
			props := map[string]any{}
			structProps(t, props, map[string]int{}, 0)
			s = map[string]any{"type": "object", "properties": props}
		default:
			return map[string]any{}
		}
	}
	if nullable {
		if typ, ok := s["type"].(string); ok {
			s["type"] = []string{typ, "null"}
			delete(s, "enum") // keep nullable enums simple: any string or null
		}
	}
	return s
}

func structProps(t reflect.Type, props map[string]any, depth map[string]int, d int) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				structProps(ft, props, depth, d+1)
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		if prev, ok := depth[name]; ok && prev <= d {
			continue
		}
		depth[name] = d
		props[name] = schemaOf(f.Type)
	}
}
