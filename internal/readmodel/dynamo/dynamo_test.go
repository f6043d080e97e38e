package dynamo_test

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/guregu/dynamo/v2"

	"github.com/cmlcm/cmlcm/internal/motoserver"
	"github.com/cmlcm/cmlcm/internal/readmodel"
	rmdynamo "github.com/cmlcm/cmlcm/internal/readmodel/dynamo"
	"github.com/cmlcm/cmlcm/internal/readmodel/readmodeltest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.Stop()
	os.Exit(code)
}

var seq atomic.Int64

// TestContract runs the read-model contract against a real DynamoDB-compatible
// server (moto), with fresh tables per subtest.
func TestContract(t *testing.T) {
	db := dynamo.New(motoserver.Config(t))
	readmodeltest.Run(t, func(t *testing.T) readmodel.Store {
		n := seq.Add(1)
		tables := rmdynamo.Tables{
			Workers:  fmt.Sprintf("rm-workers-%d-%d", time.Now().UnixNano(), n),
			Labs:     fmt.Sprintf("rm-labs-%d-%d", time.Now().UnixNano(), n),
			Activity: fmt.Sprintf("rm-activity-%d-%d", time.Now().UnixNano(), n),
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := rmdynamo.CreateTables(ctx, db, tables); err != nil {
			t.Fatal(err)
		}
		return rmdynamo.New(db, tables)
	})
}
