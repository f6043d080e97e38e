package oascheck_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cmlcm/cmlcm/internal/cmlsim/oascheck"
)

// The validator must reject what CML would not send, or the fidelity proof
// built on it proves nothing.
func TestCheck(t *testing.T) {
	v := oascheck.MustLoad(t)
	const lab = "/api/v0/labs/90f84e38-a71c-4d57-8d90-00fa8a197385"
	json := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name         string
		method, path string
		status       int
		header       http.Header
		body         string
		ok           bool
	}{
		{"system information", "GET", "/api/v0/system_information", 200, json,
			`{"version":"2.9.0","ready":true,"allow_ssh_pubkey_auth":false,"oui":"52:54:00:00:00:00"}`, true},
		{"system information missing oui", "GET", "/api/v0/system_information", 200, json,
			`{"version":"2.9.0","ready":true,"allow_ssh_pubkey_auth":false}`, false},
		{"system information extra key", "GET", "/api/v0/system_information", 200, json,
			`{"version":"2.9.0","ready":true,"allow_ssh_pubkey_auth":false,"oui":null,"uptime":3}`, false},
		{"token is a JWT-shaped string", "POST", "/api/v0/authenticate", 200, json, `"aaa.bbb.ccc"`, true},
		{"token not JWT-shaped", "POST", "/api/v0/authenticate", 200, json, `"a b"`, false},
		{"lab state enum", "GET", lab + "/state", 200, json, `"STARTED"`, true},
		{"lab state outside enum", "GET", lab + "/state", 200, json, `"BOOTED"`, false},
		{"error body", "GET", lab, 404, json, `{"code":404,"description":"Lab not found: x"}`, true},
		{"error body without description", "GET", lab, 404, json, `{"code":404}`, false},
		{"undocumented status uses default Error", "DELETE", lab, 400, json, `{"code":400,"description":"not wiped"}`, true},
		{"204", "PUT", lab + "/start", 204, http.Header{}, ``, true},
		{"unknown path", "GET", "/api/v0/no_such_thing", 200, json, `{}`, false},
		{"lab ids must be UUID4", "GET", "/api/v0/labs", 200, json, `["lab-1"]`, false},
		{"deviation: simulation_stats maps", "GET", lab + "/simulation_stats", 200, json,
			`{"nodes":{"90f84e38-a71c-4d57-8d90-00fa8a197385":{"cpu_usage":1}},"links":{}}`, true},
		{"deviation: simulation_stats keys checked", "GET", lab + "/simulation_stats", 200, json,
			`{"nodes":{"n0":{"cpu_usage":1}},"links":{}}`, false},
		{"deviation: download YAML", "GET", lab + "/download", 200, http.Header{"Content-Type": {"text/plain"}},
			"lab:\n  version: 0.3.0\nnodes: []\nlinks: []\n", true},
		{"deviation: download must be a topology", "GET", lab + "/download", 200, http.Header{"Content-Type": {"text/plain"}},
			"hello", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, "https://cml.example"+tt.path, nil)
			err := v.Check(req, tt.status, tt.header, []byte(tt.body))
			if (err == nil) != tt.ok {
				t.Errorf("Check ok=%v, want %v (err: %v)", err == nil, tt.ok, err)
			}
		})
	}
}
