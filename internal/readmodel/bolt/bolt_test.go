package bolt_test

import (
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/cmlcm/cmlcm/internal/readmodel"
	rmbolt "github.com/cmlcm/cmlcm/internal/readmodel/bolt"
	"github.com/cmlcm/cmlcm/internal/readmodel/readmodeltest"
)

func TestContract(t *testing.T) {
	readmodeltest.Run(t, func(t *testing.T) readmodel.Store {
		db, err := bbolt.Open(filepath.Join(t.TempDir(), "rm.db"), 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := rmbolt.New(db)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
