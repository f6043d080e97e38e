package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cmlcm/cmlcm/internal/cloud"
)

// instance is the persisted record of one simulated instance.
type instance struct {
	ID                  string            `json:"id"`
	Region              string            `json:"region"`
	State               cloud.State       `json:"state"`
	StateTransitionTime time.Time         `json:"stateTransitionTime"`
	StateReason         string            `json:"stateReason,omitempty"`
	SystemStatus        cloud.CheckStatus `json:"systemStatus"`
	InstanceStatus      cloud.CheckStatus `json:"instanceStatus"`
	PublicIP            string            `json:"publicIp,omitempty"`
	PrivateIP           string            `json:"privateIp,omitempty"`
	InstanceType        string            `json:"instanceType"`
	AMIID               string            `json:"amiId"`
	AMIName             string            `json:"amiName"`
	SubnetID            string            `json:"subnetId"`
	AvailabilityZone    string            `json:"availabilityZone"`
	LaunchTime          time.Time         `json:"launchTime"`
	Monitoring          string            `json:"monitoring"`
	Tags                map[string]string `json:"tags"`
	ClientToken         string            `json:"clientToken"`

	// Next is when the pending automatic transition (NextOp) fires; zero
	// when none is due. Absolute times, so a restart resumes them.
	Next   time.Time `json:"next,omitzero"`
	NextOp op        `json:"nextOp,omitempty"`
	// CMLReadyAt is when the simulated controller finishes booting.
	CMLReadyAt time.Time `json:"cmlReadyAt,omitzero"`
	// Port the simulator listened on, reused after a restart if free.
	Port int `json:"port,omitempty"`
	// SimState holds the simulator's labs while it is not serving (stopped
	// instance, or a checkpoint of a running one).
	SimState []byte `json:"simState,omitempty"`
}

// op is an automatic transition.
type op string

const (
	opRunning    op = "running"    // pending → running
	opStatusOK   op = "status-ok"  // status checks initializing → ok
	opStopped    op = "stopped"    // stopping → stopped
	opTerminated op = "terminated" // shutting-down → terminated
	opForget     op = "forget"     // terminated → gone
)

func (in *instance) view() cloud.Instance {
	return cloud.Instance{
		ID:                  in.ID,
		Region:              in.Region,
		State:               in.State,
		StateTransitionTime: in.StateTransitionTime,
		StateReason:         in.StateReason,
		SystemStatus:        in.SystemStatus,
		InstanceStatus:      in.InstanceStatus,
		PublicIP:            in.PublicIP,
		PrivateIP:           in.PrivateIP,
		InstanceType:        in.InstanceType,
		AMIID:               in.AMIID,
		SubnetID:            in.SubnetID,
		AvailabilityZone:    in.AvailabilityZone,
		LaunchTime:          in.LaunchTime,
		Monitoring:          in.Monitoring,
		Tags:                maps.Clone(in.Tags),
	}
}

func (in *instance) saveSim(rs *runningSim, log *slog.Logger) {
	st, err := rs.sim.SaveState()
	if err != nil {
		log.Error("save simulator state", "instance", in.ID, "err", err)
		return
	}
	in.SimState = st
}

type fileFormat struct {
	Version   int         `json:"version"`
	Account   string      `json:"account"`
	Instances []*instance `json:"instances"`
}

const fileName = "sandbox.json"

// load reads the data directory's state file, if any.
func (s *Sandbox) load() error {
	if s.opts.Dir == "" {
		return nil
	}
	if err := os.MkdirAll(s.opts.Dir, 0o700); err != nil {
		return fmt.Errorf("sandbox: data directory: %w", err)
	}
	s.file = filepath.Join(s.opts.Dir, fileName)
	b, err := os.ReadFile(s.file)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sandbox: read state: %w", err)
	}
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("sandbox: decode %s: %w", s.file, err)
	}
	if f.Version != 1 {
		return fmt.Errorf("sandbox: %s has version %d, want 1", s.file, f.Version)
	}
	for _, in := range f.Instances {
		s.instances[in.ID] = in
	}
	return nil
}

// persist writes the state file atomically (temp file, fsync, rename), so
// a crash leaves either the old or the new state, never half of one.
// Callers hold s.mu.
func (s *Sandbox) persist() error {
	if s.file == "" {
		return nil
	}
	f := fileFormat{Version: 1, Account: s.opts.Account}
	for _, id := range slices.Sorted(maps.Keys(s.instances)) {
		f.Instances = append(f.Instances, s.instances[id])
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("sandbox: encode state: %w", err)
	}
	tmp, err := os.CreateTemp(s.opts.Dir, fileName+".*.tmp")
	if err != nil {
		return fmt.Errorf("sandbox: write state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("sandbox: write state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sandbox: sync state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sandbox: write state: %w", err)
	}
	if err := os.Rename(tmp.Name(), s.file); err != nil {
		return fmt.Errorf("sandbox: replace state: %w", err)
	}
	return nil
}

// save persists and logs a failure: the in-memory state stays
// authoritative, the next save catches up.
func (s *Sandbox) save() {
	if err := s.persist(); err != nil {
		s.log.Error("persist sandbox state", "err", err)
	}
}
