package secrets_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/cmlcm/cmlcm/internal/motoserver"
	"github.com/cmlcm/cmlcm/internal/secrets"
)

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.Stop()
	os.Exit(code)
}

// contract runs the same checks on both stores.
func contract(t *testing.T, s secrets.Store) {
	ctx := context.Background()
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("missing: %v", err)
	}
	name := secrets.LicenseTokenName("w-1")
	if err := s.Put(ctx, name, "tok-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, name, "tok-2"); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get(ctx, name); err != nil || v != "tok-2" {
		t.Fatalf("get: %q %v", v, err)
	}
	if err := s.Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, name); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.Get(ctx, name); !errors.Is(err, secrets.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	// A deleted name can be used again at once.
	if err := s.Put(ctx, name, "tok-3"); err != nil {
		t.Fatal(err)
	}
	if err := secrets.PutCMLCredentials(ctx, s, "", secrets.Credentials{Username: "admin", Password: "fleet"}); err != nil {
		t.Fatal(err)
	}
	if err := secrets.PutCMLCredentials(ctx, s, "w-2", secrets.Credentials{Username: "ops", Password: "own"}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"w-1": "fleet", "w-2": "own"} {
		c, err := secrets.CMLCredentials(ctx, s, id)
		if err != nil || c.Password != want {
			t.Errorf("credentials of %s: %+v %v", id, c, err)
		}
		if fmt.Sprint(c) == "" || strings.Contains(fmt.Sprint(c), want) {
			t.Errorf("credentials print their password: %v", c)
		}
	}
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.json")
	f, err := secrets.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	contract(t, f)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	// A file someone loosened is tightened on open.
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.OpenFile(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode after reopen %v", fi.Mode().Perm())
	}
}

func TestSecretsManager(t *testing.T) {
	api := secretsmanager.NewFromConfig(motoserver.Config(t))
	prefix := fmt.Sprintf("cmlcm/test-%d/", time.Now().UnixNano())
	contract(t, secrets.NewSecretsManager(api, prefix, time.Minute))

	// Reads are cached: a change made elsewhere shows after Forget.
	ctx := context.Background()
	a := secrets.NewSecretsManager(api, prefix, time.Hour)
	b := secrets.NewSecretsManager(api, prefix, time.Hour)
	if err := a.Put(ctx, "x", "1"); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Get(ctx, "x"); v != "1" {
		t.Fatalf("b sees %q", v)
	}
	if err := a.Put(ctx, "x", "2"); err != nil {
		t.Fatal(err)
	}
	if v, _ := b.Get(ctx, "x"); v != "1" {
		t.Errorf("cache not used: %q", v)
	}
	b.Forget("x")
	if v, _ := b.Get(ctx, "x"); v != "2" {
		t.Errorf("after forget: %q", v)
	}
}
