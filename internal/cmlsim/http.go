package cmlsim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"
)

// writeJSON writes v as the JSON body CML sends.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "encode response: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeError writes CML's error body: {"code": N, "description": "..."}.
// virl2-client indexes "description" directly, so it is always present.
func writeError(w http.ResponseWriter, status int, description string) {
	b, _ := json.Marshal(map[string]any{"code": status, "description": description})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func noContent(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }

// maxBody bounds request bodies; CML topologies are well under this.
const maxBody = 16 << 20

func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, errors.New("request body too large")
	}
	return b, nil
}

// decodeJSONBody decodes a JSON request body whatever its Content-Type:
// clients (virl2-client, gocmlclient) are not consistent about it.
func decodeJSONBody(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	if len(b) == 0 {
		return errors.New("empty request body")
	}
	return json.Unmarshal(b, v)
}

// queryBool reads a boolean query parameter as FastAPI does: true/1/yes/on.
// An absent or empty value yields def.
func queryBool(r *http.Request, name string, def bool) bool {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def
	}
	switch v {
	case "true", "True", "1", "yes", "on":
		return true
	}
	if b, err := strconv.ParseBool(v); err == nil {
		return b
	}
	return false
}

// isoTime formats times as CML does: ISO-8601 with an explicit offset.
func isoTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05+00:00") }
