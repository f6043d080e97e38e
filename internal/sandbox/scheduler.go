package sandbox

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/cmlcm/cmlcm/internal/cloud"
	"github.com/cmlcm/cmlcm/internal/cmlsim"
)

// run is the sandbox clock: it fires automatic transitions when they come
// due and checkpoints running simulators.
func (s *Sandbox) run() {
	defer s.done.Done()
	checkpoint := time.NewTicker(s.opts.Checkpoint)
	defer checkpoint.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := time.Hour
		if next := s.fireDue(time.Now()); !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-s.wake:
		case <-checkpoint.C:
			s.checkpoint()
		case <-s.stop:
			return
		}
	}
}

// fireDue applies every transition due at now, earliest first, and returns
// the next deadline (zero if none).
func (s *Sandbox) fireDue(now time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	changed := false
	for {
		var due *instance
		for _, in := range s.instances {
			if in.NextOp == "" || in.Next.After(now) {
				continue
			}
			if due == nil || in.Next.Before(due.Next) || (in.Next.Equal(due.Next) && in.ID < due.ID) {
				due = in
			}
		}
		if due == nil {
			break
		}
		s.advance(due, now)
		changed = true
	}
	if changed {
		s.save()
	}
	var next time.Time
	for _, in := range s.instances {
		if in.NextOp != "" && (next.IsZero() || in.Next.Before(next)) {
			next = in.Next
		}
	}
	return next
}

// advance applies the instance's due transition at its scheduled time (a
// restart catching up emits the times the transitions should have had).
// Callers hold s.mu.
func (s *Sandbox) advance(in *instance, now time.Time) {
	at, next := in.Next, in.NextOp
	in.Next, in.NextOp = time.Time{}, ""
	switch next {
	case opRunning:
		in.setState(cloud.StateRunning, at)
		in.SystemStatus, in.InstanceStatus = cloud.CheckInitializing, cloud.CheckInitializing
		in.PublicIP, in.PrivateIP = "127.0.0.1", "127.0.0.1"
		in.CMLReadyAt = at.Add(s.scaled(s.dur.CMLBoot))
		in.schedule(opStatusOK, at.Add(s.scaled(s.dur.StatusChecks)))
		s.emit(in, at)
		s.startSim(in, now)
	case opStatusOK:
		in.SystemStatus, in.InstanceStatus = cloud.CheckOK, cloud.CheckOK
	case opStopped:
		in.setState(cloud.StateStopped, at)
		s.emit(in, at)
	case opTerminated:
		in.setState(cloud.StateTerminated, at)
		in.schedule(opForget, at.Add(s.scaled(s.dur.Retention)))
		s.emit(in, at)
	case opForget:
		delete(s.instances, in.ID)
	}
}

func (in *instance) setState(st cloud.State, at time.Time) {
	in.State, in.StateTransitionTime = st, at
}

func (in *instance) schedule(o op, at time.Time) {
	in.Next, in.NextOp = at, o
}

// runningSim is a serving simulator.
type runningSim struct {
	sim      *cmlsim.Sim
	url      string
	shutdown func()
}

// startSim boots the instance's CML simulator on its own port, restoring
// its saved labs. The boot delay is what remains of CMLReadyAt, so a
// restart of the local server does not reboot CML from scratch. Callers
// hold s.mu.
func (s *Sandbox) startSim(in *instance, now time.Time) {
	if s.sims[in.ID] != nil {
		return
	}
	o := cmlsim.Options{
		Username:  s.opts.CMLUsername,
		Password:  s.opts.CMLPassword,
		BootDelay: max(in.CMLReadyAt.Sub(now), 0),
		State:     in.SimState,
		Logger:    s.log.With("instance", in.ID),
	}
	if s.opts.SimOptions != nil {
		s.opts.SimOptions(in.ID, &o)
	}
	sim := cmlsim.New(o)
	serve := func(port int) (string, func(context.Context) error, error) {
		return cmlsim.Serve(context.Background(), net.JoinHostPort(s.opts.Host, strconv.Itoa(port)), sim, !s.opts.PlainHTTP)
	}
	u, shutdown, err := serve(in.Port)
	if err != nil && in.Port != 0 {
		// The old port is taken: a new one, as EC2 gives a new public IP
		// after a stop/start.
		u, shutdown, err = serve(0)
	}
	if err != nil {
		s.log.Error("start CML simulator", "instance", in.ID, "err", err)
		return
	}
	if pu, err := url.Parse(u); err == nil {
		in.Port, _ = strconv.Atoi(pu.Port())
	}
	if in.Tags == nil {
		in.Tags = map[string]string{}
	}
	in.Tags[cloud.TagSandboxEndpoint] = u
	s.sims[in.ID] = &runningSim{sim: sim, url: u, shutdown: func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = shutdown(ctx)
	}}
	s.log.Info("CML simulator serving", "instance", in.ID, "url", u, "bootDelay", o.BootDelay)
}

// stopSim shuts the simulator down, keeping its labs when keep is set (a
// stop: the disk survives) and discarding them otherwise (terminate).
// Callers hold s.mu.
func (s *Sandbox) stopSim(in *instance, keep bool) {
	if rs := s.sims[in.ID]; rs != nil {
		if keep {
			in.saveSim(rs, s.log)
		}
		rs.shutdown()
		delete(s.sims, in.ID)
	}
	if !keep {
		in.SimState = nil
	}
	delete(in.Tags, cloud.TagSandboxEndpoint)
}

// checkpoint saves the labs of every running simulator.
func (s *Sandbox) checkpoint() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sims) == 0 {
		return
	}
	for id, rs := range s.sims {
		if in := s.instances[id]; in != nil {
			in.saveSim(rs, s.log)
		}
	}
	s.save()
}
