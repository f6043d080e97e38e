package config

import (
	"strings"
	"testing"
)

func TestRequire(t *testing.T) {
	env := map[string]string{"A": "1", "B": " ", "C": "3"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		names   []string
		wantErr string
	}{
		{[]string{"A", "C"}, ""},
		{[]string{"A", "B", "D"}, "B, D"},
	}
	for _, tc := range tests {
		got, err := Require(lookup, tc.names...)
		if tc.wantErr == "" {
			if err != nil || got["A"] != "1" || got["C"] != "3" {
				t.Errorf("%v: %v %v", tc.names, got, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%v: err %v, want mention of %s", tc.names, err, tc.wantErr)
		}
	}
}
