package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAssetsCheckNamesMakeBuild(t *testing.T) {
	dir := t.TempDir()
	// One zip present, the others missing.
	if err := os.WriteFile(filepath.Join(dir, "projector.zip"), []byte("zip"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "lambdas", "api"), 0o755)
	os.WriteFile(filepath.Join(root, "lambdas", "api", "main.go"), []byte("package main"), 0o644)
	err := Assets{LambdaDir: dir, Zipped: true}.Check(root)
	if err == nil {
		t.Fatal("missing zips accepted")
	}
	for _, want := range []string{"make build", "api.zip", "authorizer.zip", "pretoken.zip"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "projector.zip") {
		t.Errorf("error names a zip that exists: %v", err)
	}
	if !strings.Contains(err.Error(), "no source yet: lambdas/authorizer") || strings.Contains(err.Error(), "lambdas/api,") {
		t.Errorf("error does not tell unwritten binaries apart: %v", err)
	}
	for _, fn := range lambdaBinaries {
		os.WriteFile(filepath.Join(dir, fn+".zip"), []byte("zip"), 0o644)
	}
	if err := (Assets{LambdaDir: dir, Zipped: true}).Check(root); err != nil {
		t.Errorf("all zips present: %v", err)
	}
}
