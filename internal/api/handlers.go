package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cmlcm/cmlcm/internal/fleet"
	"github.com/cmlcm/cmlcm/internal/idle"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	"github.com/cmlcm/cmlcm/internal/telemetry"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// Body limits. Larger bodies get 413.
const (
	MaxJSONBody     = 64 << 10
	MaxTopologyBody = fleet.MaxTopologySize + 64<<10 // multipart framing
)

type handlers struct {
	fleet   *fleet.Service
	version string
	health  func(ctx context.Context) map[string]error
	info    map[string]any
	openapi []byte
}

type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		writeProblem(w, r, err)
	}
}

// table binds each route name of routes.All to its handler; a test proves
// the two sets are equal.
func (h *handlers) table() map[string]http.Handler {
	m := map[string]handlerFunc{
		"health":  h.getHealth,
		"openapi": h.getOpenAPI,
		"docs":    h.getDocs,

		// internal/auth replaces these through Options.Handlers; until it
		// is wired, me answers from the principal and the OIDC flow is
		// unavailable.
		"authLogin":    unavailable("no identity provider is configured"),
		"authCallback": unavailable("no identity provider is configured"),
		"authLogout":   unavailable("no identity provider is configured"),
		"authMe":       h.getMe,

		"listWorkers":       h.listWorkers,
		"createWorker":      h.createWorker,
		"importWorkers":     h.importWorkers,
		"getWorker":         h.getWorker,
		"deleteWorker":      h.deleteWorker,
		"workerEvents":      h.workerEvents,
		"workerMetrics":     h.workerMetrics,
		"startWorker":       h.startWorker,
		"stopWorker":        h.stopWorker,
		"refreshWorker":     h.refreshWorker,
		"setIdlePolicy":     h.setIdlePolicy,
		"setSchedule":       h.setSchedule,
		"registerLicense":   h.registerLicense,
		"deregisterLicense": h.deregisterLicense,
		"setTags":           h.setTags,

		"listLabs":    h.listLabs,
		"importLab":   h.importLab,
		"getLab":      h.getLab,
		"deleteLab":   h.deleteLab,
		"labTopology": h.labTopology,
		"startLab":    h.labAction(fleet.LabStart),
		"stopLab":     h.labAction(fleet.LabStop),
		"wipeLab":     h.labAction(fleet.LabWipe),

		"fleetSummary": h.fleetSummary,
		"getSettings":  h.getSettings,
		"putSettings":  h.putSettings,
	}
	out := make(map[string]http.Handler, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// HandlerNames lists the routes this package serves itself (tests).
func HandlerNames() []string {
	var out []string
	for k := range (&handlers{}).table() {
		out = append(out, k)
	}
	return out
}

func unavailable(detail string) handlerFunc {
	return func(http.ResponseWriter, *http.Request) error { return newProblem(ProblemUnavailable, detail) }
}

// Responses.

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
	return nil
}

// Requests.

// readBody reads at most limit bytes; more is a 413.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, newProblem(ProblemTooLarge, fmt.Sprintf("the body exceeds %d bytes", limit))
	}
	if err != nil {
		return nil, badRequest("", "the body could not be read")
	}
	return b, nil
}

func isJSON(contentType string) bool {
	if contentType == "" {
		return true // curl -d without -H; the body must still parse
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// decodeJSON decodes a JSON body strictly (unknown fields, trailing data
// and type mismatches are 400). optional lets an empty body through
// (returns false).
func decodeJSON(w http.ResponseWriter, r *http.Request, v any, optional bool) (bool, error) {
	b, err := readBody(w, r, MaxJSONBody)
	if err != nil {
		return false, err
	}
	if optional && len(bytes.TrimSpace(b)) == 0 {
		return false, nil
	}
	if err := checkJSONBody(r, b, "a JSON body is required", "application/json"); err != nil {
		return false, err
	}
	if err := strictUnmarshal(b, v); err != nil {
		return false, err
	}
	return true, nil
}

// readJSONBody reads a required JSON body for handlers that decode it
// themselves (null bodies, merge patches). missing is the detail of the 400
// for an empty body; media names the accepted types in the 415.
func readJSONBody(w http.ResponseWriter, r *http.Request, missing, media string) ([]byte, error) {
	b, err := readBody(w, r, MaxJSONBody)
	if err != nil {
		return nil, err
	}
	return b, checkJSONBody(r, b, missing, media)
}

func checkJSONBody(r *http.Request, b []byte, missing, media string) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return badRequest("", missing)
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return newProblem(ProblemMediaType, "send "+media)
	}
	return nil
}

func strictUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err)
	}
	if dec.More() {
		return badRequest("", "the body holds more than one JSON value")
	}
	return nil
}

func jsonProblem(err error) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		return badRequest(field, fmt.Sprintf("%s must be %s, not %s", orBody(field), te.Type, te.Value))
	case errors.As(err, &se):
		return badRequest("", fmt.Sprintf("the body is not valid JSON (offset %d)", se.Offset))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return badRequest(f, fmt.Sprintf("unknown field %q", f))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return badRequest("", "the body is truncated JSON")
	}
	return badRequest("", "the body is not acceptable: "+err.Error())
}

func orBody(field string) string {
	if field == "" {
		return "the body"
	}
	return field
}

// noBody refuses a body on routes that take none (a forgotten body is
// harmless, but an oversized one must not be read into memory).
func ignoreBody(w http.ResponseWriter, r *http.Request) error {
	_, err := readBody(w, r, MaxJSONBody)
	return err
}

func workerID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if id == "" || len(id) > 128 {
		return "", newProblem(ProblemNotFound, "no such worker")
	}
	return id, nil
}

func queryTime(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badRequest(name, fmt.Sprintf("%q is not an RFC 3339 time", v))
	}
	return t, nil
}

func queryLimit(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > fleet.MaxPageSize {
		return 0, badRequest("limit", fmt.Sprintf("must be an integer between 1 and %d", fleet.MaxPageSize))
	}
	return n, nil
}

// System.

func (h *handlers) getHealth(w http.ResponseWriter, r *http.Request) error {
	status, code := "ok", http.StatusOK
	checks := map[string]string{}
	if h.health != nil {
		for name, err := range h.health(r.Context()) {
			if err != nil {
				checks[name] = err.Error()
				status, code = "degraded", http.StatusServiceUnavailable
			} else {
				checks[name] = "ok"
			}
		}
	}
	out := map[string]any{}
	for k, v := range h.info {
		out[k] = v
	}
	out["status"], out["version"], out["checks"] = status, h.version, checks
	return writeJSON(w, code, out)
}

func (h *handlers) getOpenAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(h.openapi)
	return nil
}

func (h *handlers) getDocs(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'")
	_, _ = io.WriteString(w, docsPage)
	return nil
}

func (h *handlers) getMe(w http.ResponseWriter, r *http.Request) error {
	p, _ := PrincipalFrom(r.Context())
	if p.Roles == nil {
		p.Roles = []string{}
	}
	return writeJSON(w, http.StatusOK, p)
}

// Workers.

func (h *handlers) listWorkers(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryLimit(q)
	if err != nil {
		return err
	}
	page, err := h.fleet.ListWorkers(r.Context(), readmodel.WorkerFilter{Region: q.Get("region"), Status: q.Get("status"),
		Text: q.Get("text")}, q.Get("cursor"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

func (h *handlers) getWorker(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	wk, err := h.fleet.GetWorker(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wk)
}

func (h *handlers) createWorker(w http.ResponseWriter, r *http.Request) error {
	var req fleet.CreateRequest
	if _, err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	wk, err := h.fleet.Create(r.Context(), req)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/workers/"+wk.ID)
	return writeJSON(w, http.StatusAccepted, wk)
}

func (h *handlers) importWorkers(w http.ResponseWriter, r *http.Request) error {
	var req fleet.ImportRequest
	if _, err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	res, err := h.fleet.Import(r.Context(), req)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if len(res.Imported) > 0 {
		status = http.StatusAccepted
	}
	return writeJSON(w, status, res)
}

func (h *handlers) deleteWorker(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	if err := ignoreBody(w, r); err != nil {
		return err
	}
	q := r.URL.Query()
	reason := q.Get("reason")
	switch q.Get("terminate") {
	case "true":
		wk, err := h.fleet.Terminate(r.Context(), id, reason)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusAccepted, wk)
	case "false":
		if err := h.fleet.Remove(r.Context(), id, reason); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	return badRequest("terminate", "is required: true terminates the instance, false only removes the worker from the fleet")
}

func (h *handlers) workerEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	limit, err := queryLimit(q)
	if err != nil {
		return err
	}
	page, err := h.fleet.WorkerEvents(r.Context(), id, q.Get("cursor"), limit)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, page)
}

// MetricsResponse is GET /workers/{id}/metrics.
type MetricsResponse struct {
	WorkerID string             `json:"workerId"`
	From     time.Time          `json:"from"`
	To       time.Time          `json:"to"`
	Samples  []telemetry.Sample `json:"samples"`
}

func (h *handlers) workerMetrics(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	from, err := queryTime(q, "from")
	if err != nil {
		return err
	}
	to, err := queryTime(q, "to")
	if err != nil {
		return err
	}
	if to.IsZero() {
		to = time.Now().UTC()
	}
	if from.IsZero() {
		from = to.Add(-time.Hour)
	}
	samples, err := h.fleet.Metrics(r.Context(), id, from, to)
	if err != nil {
		return err
	}
	if samples == nil {
		samples = []telemetry.Sample{}
	}
	return writeJSON(w, http.StatusOK, MetricsResponse{WorkerID: id, From: from.UTC(), To: to.UTC(), Samples: samples})
}

// PowerRequest is the optional body of start and stop.
type PowerRequest struct {
	Reason string `json:"reason"`
}

func (h *handlers) power(start bool) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := workerID(r)
		if err != nil {
			return err
		}
		var req PowerRequest
		if _, err := decodeJSON(w, r, &req, true); err != nil {
			return err
		}
		if len(req.Reason) > worker.MaxReasonLength {
			return badRequest("reason", fmt.Sprintf("is longer than %d characters", worker.MaxReasonLength))
		}
		op := h.fleet.Stop
		if start {
			op = h.fleet.Start
		}
		wk, err := op(r.Context(), id, fleet.PowerOptions{Reason: req.Reason})
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusAccepted, wk)
	}
}

func (h *handlers) startWorker(w http.ResponseWriter, r *http.Request) error {
	return h.power(true)(w, r)
}
func (h *handlers) stopWorker(w http.ResponseWriter, r *http.Request) error {
	return h.power(false)(w, r)
}

func (h *handlers) refreshWorker(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	if err := ignoreBody(w, r); err != nil {
		return err
	}
	wk, err := h.fleet.Refresh(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, wk)
}

func isNull(b []byte) bool { return string(bytes.TrimSpace(b)) == "null" }

func (h *handlers) setIdlePolicy(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	b, err := readJSONBody(w, r, "a JSON body is required: an idle policy, or null to follow the fleet's", "application/json")
	if err != nil {
		return err
	}
	var p *idle.Policy
	if !isNull(b) {
		pol := idle.DefaultPolicy() // omitted fields keep their defaults
		if err := strictUnmarshal(b, &pol); err != nil {
			return err
		}
		p = &pol
	}
	wk, err := h.fleet.SetIdlePolicy(r.Context(), id, p)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wk)
}

func (h *handlers) setSchedule(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	b, err := readJSONBody(w, r, "a JSON body is required: a schedule, or null to clear it", "application/json")
	if err != nil {
		return err
	}
	var sch *worker.Schedule
	if !isNull(b) {
		sch = &worker.Schedule{}
		if err := strictUnmarshal(b, sch); err != nil {
			return err
		}
	}
	wk, err := h.fleet.SetSchedule(r.Context(), id, sch)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wk)
}

// LicenseRequest is the optional body of POST /workers/{id}/license.
type LicenseRequest struct {
	// LicenseToken replaces the stored token; omitted uses the stored one.
	LicenseToken string `json:"licenseToken"`
	Reregister   bool   `json:"reregister"`
}

func (h *handlers) registerLicense(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	var req LicenseRequest
	if _, err := decodeJSON(w, r, &req, true); err != nil {
		return err
	}
	wk, err := h.fleet.RegisterLicense(r.Context(), id, req.LicenseToken, req.Reregister)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, wk)
}

func (h *handlers) deregisterLicense(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	if err := ignoreBody(w, r); err != nil {
		return err
	}
	wk, err := h.fleet.DeregisterLicense(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, wk)
}

// TagsRequest is PUT /workers/{id}/tags.
type TagsRequest struct {
	Tags map[string]string `json:"tags"`
}

func (h *handlers) setTags(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	var req TagsRequest
	if _, err := decodeJSON(w, r, &req, false); err != nil {
		return err
	}
	if req.Tags == nil {
		return badRequest("tags", "is required (an empty object removes every user tag)")
	}
	wk, err := h.fleet.SetTags(r.Context(), id, req.Tags)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, wk)
}

// Labs.

func (h *handlers) listLabs(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	labs, err := h.fleet.ListLabs(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, fleet.Page[fleet.Lab]{Items: labs})
}

func (h *handlers) getLab(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	l, err := h.fleet.GetLab(r.Context(), id, r.PathValue("labId"))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, l)
}

func (h *handlers) labAction(action fleet.LabAction) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		id, err := workerID(r)
		if err != nil {
			return err
		}
		if err := ignoreBody(w, r); err != nil {
			return err
		}
		l, err := h.fleet.LabOperation(r.Context(), id, r.PathValue("labId"), action)
		if err != nil {
			return err
		}
		return writeJSON(w, http.StatusAccepted, l)
	}
}

func (h *handlers) deleteLab(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	if err := ignoreBody(w, r); err != nil {
		return err
	}
	if err := h.fleet.DeleteLab(r.Context(), id, r.PathValue("labId")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handlers) labTopology(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	labID := r.PathValue("labId")
	b, err := h.fleet.LabTopology(r.Context(), id, labID)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/yaml")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": labID + ".yaml"}))
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(b)
	return nil
}

// importLab takes the topology as the raw body (YAML media types) or as
// the "file" part of a multipart form; the title comes from ?title= or a
// "title" form field.
func (h *handlers) importLab(w http.ResponseWriter, r *http.Request) error {
	id, err := workerID(r)
	if err != nil {
		return err
	}
	title := r.URL.Query().Get("title")
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var topology []byte
	switch mt {
	case "multipart/form-data":
		b, err := readBody(w, r, MaxTopologyBody)
		if err != nil {
			return err
		}
		topology, title, err = readMultipart(b, params["boundary"], title)
		if err != nil {
			return err
		}
	case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain", "application/octet-stream", "":
		topology, err = readBody(w, r, fleet.MaxTopologySize)
		if err != nil {
			return err
		}
	default:
		return newProblem(ProblemMediaType, "send the topology as application/yaml or as the \"file\" part of multipart/form-data")
	}
	l, err := h.fleet.ImportLab(r.Context(), id, topology, title)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/workers/"+id+"/labs/"+l.ID)
	return writeJSON(w, http.StatusCreated, l)
}

func readMultipart(body []byte, boundary, title string) ([]byte, string, error) {
	if boundary == "" {
		return nil, "", badRequest("", "the multipart body has no boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var topology []byte
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, "", badRequest("", "the multipart body is malformed")
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, "", badRequest("", "the multipart body is malformed")
		}
		switch part.FormName() {
		case "file":
			topology = data
		case "title":
			if title == "" {
				title = string(data)
			}
		}
	}
	if topology == nil {
		return nil, "", badRequest("file", "is required: the topology YAML")
	}
	return topology, title, nil
}

// Fleet and settings.

func (h *handlers) fleetSummary(w http.ResponseWriter, r *http.Request) error {
	s, err := h.fleet.Summary(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s)
}

func (h *handlers) getSettings(w http.ResponseWriter, r *http.Request) error {
	s, err := h.fleet.Settings(r.Context())
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s)
}

func (h *handlers) putSettings(w http.ResponseWriter, r *http.Request) error {
	b, err := readJSONBody(w, r, "a JSON merge patch (RFC 7386) of the settings is required", "application/merge-patch+json or application/json")
	if err != nil {
		return err
	}
	s, err := h.fleet.UpdateSettings(r.Context(), b)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, s)
}
