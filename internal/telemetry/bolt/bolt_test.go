package bolt_test

import (
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/cmlcm/cmlcm/internal/telemetry"
	tmbolt "github.com/cmlcm/cmlcm/internal/telemetry/bolt"
	"github.com/cmlcm/cmlcm/internal/telemetry/telemetrytest"
)

func TestContract(t *testing.T) {
	telemetrytest.Run(t, func(t *testing.T) telemetry.Store {
		db, err := bbolt.Open(filepath.Join(t.TempDir(), "t.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := tmbolt.New(db)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
