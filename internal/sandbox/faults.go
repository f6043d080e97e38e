package sandbox

import (
	"errors"

	"github.com/cmlcm/cmlcm/internal/cloud"
)

// Fault makes a sandbox operation fail, for tests of callers' error paths.
type Fault struct {
	// Op is the method name: "Launch", "Start", "Stop", "Terminate",
	// "Tag", "EnableMonitoring", "Describe", "Discover" or "Metrics".
	Op string
	// Subnet limits a Launch fault to launches into this subnet. A
	// capacity fault there makes Launch move on to the next subnet, as
	// against EC2.
	Subnet string
	// Err is returned; a bare cloud.Err* class is wrapped in a
	// *cloud.Error with the code and message EC2 would send.
	Err error
	// Times is how many calls fail; 0 means until ClearFaults.
	Times int
}

// InjectFault adds a fault.
func (s *Sandbox) InjectFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, f)
}

// ClearFaults removes every fault.
func (s *Sandbox) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
}

// fault returns the error of the first fault matching op and subnet, and
// uses one of its Times. Callers hold s.mu.
func (s *Sandbox) fault(op, subnet string) error {
	for i, f := range s.faults {
		if f.Op != op || f.Subnet != subnet {
			continue
		}
		if f.Times > 0 {
			s.faults[i].Times--
			if s.faults[i].Times == 0 {
				s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			}
		}
		return asCloudError(op, f.Err)
	}
	return nil
}

// asCloudError dresses a bare class in the code and message EC2 sends.
func asCloudError(op string, err error) error {
	var ce *cloud.Error
	if err == nil || errors.As(err, &ce) {
		return err
	}
	codes := map[error][2]string{
		cloud.ErrCapacity:      {"InsufficientInstanceCapacity", "We currently do not have sufficient capacity in the Availability Zone you requested (injected)."},
		cloud.ErrThrottled:     {"RequestLimitExceeded", "Request limit exceeded (injected)."},
		cloud.ErrNotFound:      {"InvalidInstanceID.NotFound", "The instance ID does not exist (injected)."},
		cloud.ErrInvalidConfig: {"InvalidParameterValue", "Invalid parameter (injected)."},
		cloud.ErrInvalidState:  {"IncorrectInstanceState", "The instance is not in a valid state for this operation (injected)."},
	}
	if c, ok := codes[err]; ok {
		return &cloud.Error{Kind: err, Op: op, Code: c[0], Message: c[1]}
	}
	return &cloud.Error{Op: op, Message: err.Error(), Err: err}
}
