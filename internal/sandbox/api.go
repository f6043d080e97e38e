package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/cmlcm/cmlcm/internal/cloud"
)

// Launch creates an instance in the first subnet without an injected
// capacity fault. Like EC2 with ClientToken = worker id, launching again
// for the same worker returns the instance created first, whatever its
// state (a terminated one included, until it is forgotten).
func (s *Sandbox) Launch(ctx context.Context, spec cloud.LaunchSpec) (cloud.Instance, error) {
	if err := spec.Validate(); err != nil {
		return cloud.Instance{}, err
	}
	if err := ctx.Err(); err != nil {
		return cloud.Instance{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return cloud.Instance{}, errClosed
	}
	if err := s.fault("Launch", ""); err != nil {
		return cloud.Instance{}, err
	}
	for _, in := range s.instances {
		if in.ClientToken == spec.WorkerID && in.Region == spec.Region {
			return in.view(), nil
		}
	}
	img, err := s.image(spec)
	if err != nil {
		return cloud.Instance{}, err
	}
	subnets := spec.SubnetIDs
	if len(subnets) == 0 {
		subnets = []string{"subnet-sandbox-default"}
	}
	var errs []error
	for i, subnet := range subnets {
		if err := s.fault("Launch", subnet); err != nil {
			errs = append(errs, err)
			if errors.Is(err, cloud.ErrCapacity) {
				continue
			}
			return cloud.Instance{}, err
		}
		now := time.Now()
		in := &instance{
			ID:               newInstanceID(),
			Region:           spec.Region,
			SystemStatus:     cloud.CheckInitializing,
			InstanceStatus:   cloud.CheckInitializing,
			PrivateIP:        "127.0.0.1",
			InstanceType:     spec.InstanceType,
			AMIID:            img.ID,
			AMIName:          img.Name,
			SubnetID:         subnet,
			AvailabilityZone: spec.Region + string(rune('a'+i%6)),
			LaunchTime:       now.UTC().Truncate(time.Second),
			Monitoring:       "disabled",
			Tags:             spec.AllTags(),
			ClientToken:      spec.WorkerID,
		}
		if spec.DetailedMonitoring {
			in.Monitoring = "enabled"
		}
		in.setState(cloud.StatePending, now)
		in.schedule(opRunning, now.Add(s.scaled(s.dur.Pending)))
		s.instances[in.ID] = in
		s.emit(in, now)
		s.save()
		s.poke()
		s.log.Info("launched instance", "instance", in.ID, "worker", spec.WorkerID, "region", spec.Region, "subnet", subnet)
		return in.view(), nil
	}
	return cloud.Instance{}, &cloud.Error{
		Kind: cloud.ErrCapacity, Op: "RunInstances", Code: "InsufficientInstanceCapacity",
		Message: fmt.Sprintf("no subnet of %v had capacity for %s", spec.SubnetIDs, spec.InstanceType),
		Err:     errors.Join(errs...),
	}
}

// image resolves the spec's AMI against the catalog. Callers hold s.mu.
func (s *Sandbox) image(spec cloud.LaunchSpec) (Image, error) {
	var match []Image
	for _, img := range s.opts.Images {
		if (spec.AMIID != "" && img.ID == spec.AMIID) || (spec.AMINamePattern != "" && cloud.MatchPattern(spec.AMINamePattern, img.Name)) {
			match = append(match, img)
		}
	}
	if len(match) == 0 {
		if spec.AMIID != "" {
			return Image{}, &cloud.Error{Kind: cloud.ErrInvalidConfig, Op: "RunInstances", Code: "InvalidAMIID.NotFound", Message: fmt.Sprintf("The image id '[%s]' does not exist", spec.AMIID)}
		}
		return Image{}, &cloud.Error{Kind: cloud.ErrInvalidConfig, Op: "DescribeImages", Message: "no available AMI matches name " + spec.AMINamePattern}
	}
	return slices.MaxFunc(match, func(a, b Image) int { return a.Created.Compare(b.Created) }), nil
}

// Start starts a stopped instance; a pending or running one is left as is.
func (s *Sandbox) Start(ctx context.Context, region, id string) error {
	return s.change(ctx, "Start", region, id, func(in *instance, now time.Time) error {
		switch in.State {
		case cloud.StatePending, cloud.StateRunning:
			return nil
		case cloud.StateStopped:
			in.setState(cloud.StatePending, now)
			in.StateReason = ""
			in.SystemStatus, in.InstanceStatus = cloud.CheckInitializing, cloud.CheckInitializing
			in.schedule(opRunning, now.Add(s.scaled(s.dur.Pending)))
			s.emit(in, now)
			return nil
		}
		return incorrectState("StartInstances", in)
	})
}

// Stop stops a running instance: its simulator shuts down and its labs
// are kept for the next start. A stopping or stopped one is left as is.
func (s *Sandbox) Stop(ctx context.Context, region, id string) error {
	return s.change(ctx, "Stop", region, id, func(in *instance, now time.Time) error {
		switch in.State {
		case cloud.StateStopping, cloud.StateStopped:
			return nil
		case cloud.StateRunning:
			s.stopSim(in, true)
			in.setState(cloud.StateStopping, now)
			in.StateReason = userInitiated(now)
			in.SystemStatus, in.InstanceStatus = cloud.CheckNotApplicable, cloud.CheckNotApplicable
			in.PublicIP = ""
			in.schedule(opStopped, now.Add(s.scaled(s.dur.Stopping)))
			s.emit(in, now)
			return nil
		}
		return incorrectState("StopInstances", in)
	})
}

// Terminate terminates an instance and destroys its simulator and labs.
// An unknown or already terminated instance is not an error.
func (s *Sandbox) Terminate(ctx context.Context, region, id string) error {
	err := s.change(ctx, "Terminate", region, id, func(in *instance, now time.Time) error {
		if in.State == cloud.StateShuttingDown || in.State == cloud.StateTerminated {
			return nil
		}
		s.stopSim(in, false)
		in.setState(cloud.StateShuttingDown, now)
		in.StateReason = userInitiated(now)
		in.SystemStatus, in.InstanceStatus = cloud.CheckNotApplicable, cloud.CheckNotApplicable
		in.PublicIP, in.PrivateIP = "", ""
		in.schedule(opTerminated, now.Add(s.scaled(s.dur.ShuttingDown)))
		s.emit(in, now)
		return nil
	})
	if errors.Is(err, cloud.ErrNotFound) {
		return nil
	}
	return err
}

// Tag sets and removes tags; the managed keys cannot be removed.
func (s *Sandbox) Tag(ctx context.Context, region, id string, set map[string]string, remove []string) error {
	for _, k := range remove {
		if k == cloud.TagManaged || k == cloud.TagWorkerID {
			return &cloud.Error{Kind: cloud.ErrInvalidConfig, Op: "DeleteTags", Message: "managed tag " + k + " cannot be removed"}
		}
	}
	return s.change(ctx, "Tag", region, id, func(in *instance, _ time.Time) error {
		if in.Tags == nil {
			in.Tags = make(map[string]string, len(set))
		}
		for _, k := range remove {
			if _, ok := set[k]; !ok {
				delete(in.Tags, k)
			}
		}
		maps.Copy(in.Tags, set)
		return nil
	})
}

// EnableMonitoring turns on detailed monitoring.
func (s *Sandbox) EnableMonitoring(ctx context.Context, region, id string) error {
	return s.change(ctx, "EnableMonitoring", region, id, func(in *instance, _ time.Time) error {
		in.Monitoring = "enabled"
		return nil
	})
}

// change runs fn on an existing instance under the lock, then persists and
// wakes the clock.
func (s *Sandbox) change(ctx context.Context, op, region, id string, fn func(*instance, time.Time) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if err := s.fault(op, ""); err != nil {
		return err
	}
	in := s.instances[id]
	if in == nil || in.Region != region {
		return &cloud.Error{Kind: cloud.ErrNotFound, Op: op, Code: "InvalidInstanceID.NotFound", Message: fmt.Sprintf("The instance ID '%s' does not exist", id)}
	}
	if err := fn(in, time.Now()); err != nil {
		return err
	}
	s.save()
	s.poke()
	return nil
}

// Describe returns the known instances among ids; unknown ids are left out.
func (s *Sandbox) Describe(ctx context.Context, region string, ids []string) ([]cloud.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fault("Describe", ""); err != nil {
		return nil, err
	}
	out := make([]cloud.Instance, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if in := s.instances[id]; in != nil && in.Region == region && !seen[id] {
			seen[id] = true
			out = append(out, in.view())
		}
	}
	return out, nil
}

// Discover lists the region's instances matching the filter, by id.
func (s *Sandbox) Discover(ctx context.Context, region string, f cloud.DiscoverFilter) ([]cloud.Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fault("Discover", ""); err != nil {
		return nil, err
	}
	states := f.StatesOrDefault()
	var out []cloud.Instance
	for _, in := range s.instances {
		if in.Region != region || !slices.Contains(states, in.State) {
			continue
		}
		if f.AMINamePattern != "" && !cloud.MatchPattern(f.AMINamePattern, in.AMIName) {
			continue
		}
		if !tagsMatch(in.Tags, f.Tags) {
			continue
		}
		out = append(out, in.view())
	}
	slices.SortFunc(out, func(a, b cloud.Instance) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

func tagsMatch(have, want map[string]string) bool {
	for k, v := range want {
		got, ok := have[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

// Metrics reports, for each running instance among ids, the simulated
// controller's load now (when now lies in [from, to]): CPU as the
// simulator computes it plus up to 2 points of noise that is a pure
// function of instance and minute (so tests can predict it), and memory
// as if the CloudWatch agent ran on the instance.
func (s *Sandbox) Metrics(ctx context.Context, region string, ids []string, from, to time.Time) (map[string]cloud.MetricSample, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !to.After(from) {
		return nil, &cloud.Error{Kind: cloud.ErrInvalidConfig, Op: "GetMetricData", Message: fmt.Sprintf("empty window %s..%s", from, to)}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.fault("Metrics", ""); err != nil {
		return nil, err
	}
	now := time.Now().UTC()
	out := make(map[string]cloud.MetricSample)
	if now.Before(from) {
		return out, nil
	}
	at := now.Truncate(time.Minute)
	if at.After(to) {
		// A window in the past: the sandbox keeps no history, so it
		// reports nothing rather than inventing it.
		return out, nil
	}
	for _, id := range ids {
		in := s.instances[id]
		rs := s.sims[id]
		if in == nil || in.Region != region || in.State != cloud.StateRunning || rs == nil {
			continue
		}
		load := rs.sim.Load()
		out[id] = cloud.MetricSample{
			InstanceID:    id,
			CPUPercent:    math.Min(100, load.CPUPercent+Noise(id, at)),
			CPUAt:         at,
			MemoryPercent: load.MemoryPercent,
			MemoryAt:      at,
		}
	}
	return out, nil
}

// Noise is the CPU noise the sandbox adds for an instance at a minute: in
// [0, 2), a pure function of its arguments.
func Noise(instanceID string, at time.Time) float64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d", instanceID, at.Truncate(time.Minute).Unix())
	return float64(h.Sum64()%200) / 100
}

func incorrectState(op string, in *instance) error {
	return &cloud.Error{Kind: cloud.ErrInvalidState, Op: op, Code: "IncorrectInstanceState",
		Message: fmt.Sprintf("The instance '%s' is not in a state from which it can be %s (it is %s).", in.ID, map[string]string{"StartInstances": "started", "StopInstances": "stopped"}[op], in.State)}
}

// userInitiated is EC2's transition reason for API-initiated changes.
func userInitiated(t time.Time) string {
	return "User initiated (" + t.UTC().Format(time.DateTime) + " GMT)"
}
