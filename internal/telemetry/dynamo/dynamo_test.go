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
	"github.com/cmlcm/cmlcm/internal/telemetry"
	tmdynamo "github.com/cmlcm/cmlcm/internal/telemetry/dynamo"
	"github.com/cmlcm/cmlcm/internal/telemetry/telemetrytest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.Stop()
	os.Exit(code)
}

var seq atomic.Int64

// TestContract runs the telemetry contract against moto, a fresh table per subtest.
func TestContract(t *testing.T) {
	db := dynamo.New(motoserver.Config(t))
	telemetrytest.Run(t, func(t *testing.T) telemetry.Store {
		name := fmt.Sprintf("telemetry-%d-%d", time.Now().UnixNano(), seq.Add(1))
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := tmdynamo.CreateTable(ctx, db, name); err != nil {
			t.Fatal(err)
		}
		return tmdynamo.New(db, name)
	})
}
