package routes

import (
	"net/http"
	"slices"
	"testing"
)

func TestTableIsConsistent(t *testing.T) {
	names, patterns := map[string]bool{}, map[string]bool{}
	mux := http.NewServeMux()
	for _, r := range All {
		if names[r.Name] || patterns[r.Pattern()] {
			t.Errorf("duplicate route %s %s", r.Name, r.Pattern())
		}
		names[r.Name], patterns[r.Pattern()] = true, true
		if r.Access == Roles && len(r.Roles) == 0 {
			t.Errorf("%s needs roles but lists none", r.Name)
		}
		if r.Access != Roles && len(r.Roles) > 0 {
			t.Errorf("%s lists roles but is not role-restricted", r.Name)
		}
		// Every pattern must be a valid, non-conflicting ServeMux pattern.
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s: %v", r.Name, p)
				}
			}()
			mux.HandleFunc(r.Pattern(), func(http.ResponseWriter, *http.Request) {})
		}()
	}
}

func TestAllows(t *testing.T) {
	stop, _ := ByName("stopWorker")
	health, _ := ByName("health")
	tests := []struct {
		r     Route
		roles []string
		want  bool
	}{
		{stop, []string{RoleManager}, true},
		{stop, []string{RoleAdmin}, true},
		{stop, []string{RoleUser}, false},
		{stop, nil, false},
		{health, nil, true},
	}
	for _, tc := range tests {
		if got := tc.r.Allows(tc.roles); got != tc.want {
			t.Errorf("%s with %v: %v, want %v", tc.r.Name, tc.roles, got, tc.want)
		}
	}
	lab, _ := ByName("startLab")
	if got := lab.PathParams(); !slices.Equal(got, []string{"id", "labId"}) {
		t.Errorf("path params %v", got)
	}
	if _, ok := ByName("nope"); ok {
		t.Error("unknown route found")
	}
}
