package cloud

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// EventBridge constants of the EC2 state-change notification.
const (
	StateChangeDetailType = "EC2 Instance State-change Notification"
	StateChangeSource     = "aws.ec2"
)

// StateChange is one EC2 "Instance State-change Notification".
type StateChange struct {
	ID         string // event id; derived from the content when empty
	Account    string
	Region     string
	Time       time.Time
	InstanceID string
	State      State
}

type stateChangeDetail struct {
	InstanceID string `json:"instance-id"`
	State      State  `json:"state"`
}

// Event renders the change exactly as EventBridge delivers it to a Lambda:
// version "0", second-precision UTC time, the instance ARN as the only
// resource, detail {"instance-id","state"}.
func (c StateChange) Event() events.CloudWatchEvent {
	t := c.Time.UTC().Truncate(time.Second)
	id := c.ID
	if id == "" {
		id = deterministicID(c.Account, c.Region, c.InstanceID, string(c.State), t.Format(time.RFC3339))
	}
	detail, _ := json.Marshal(stateChangeDetail{InstanceID: c.InstanceID, State: c.State}) // cannot fail: two strings
	return events.CloudWatchEvent{
		Version:    "0",
		ID:         id,
		DetailType: StateChangeDetailType,
		Source:     StateChangeSource,
		AccountID:  c.Account,
		Time:       t,
		Region:     c.Region,
		Resources:  []string{InstanceARN(c.Region, c.Account, c.InstanceID)},
		Detail:     detail,
	}
}

// ParseStateChange reads an EventBridge EC2 state-change event.
func ParseStateChange(e events.CloudWatchEvent) (StateChange, error) {
	if e.Source != StateChangeSource || e.DetailType != StateChangeDetailType {
		return StateChange{}, fmt.Errorf("not an EC2 state-change event: source %q detail-type %q", e.Source, e.DetailType)
	}
	var d stateChangeDetail
	if err := json.Unmarshal(e.Detail, &d); err != nil {
		return StateChange{}, fmt.Errorf("EC2 state-change detail: %w", err)
	}
	if d.InstanceID == "" || d.State == "" {
		return StateChange{}, errors.New("EC2 state-change detail: instance-id and state are required")
	}
	return StateChange{ID: e.ID, Account: e.AccountID, Region: e.Region, Time: e.Time, InstanceID: d.InstanceID, State: d.State}, nil
}

// InstanceARN builds arn:<partition>:ec2:<region>:<account>:instance/<id>.
func InstanceARN(region, account, instanceID string) string {
	return fmt.Sprintf("arn:%s:ec2:%s:%s:instance/%s", Partition(region), region, account, instanceID)
}

// Partition returns the AWS partition of a region name.
func Partition(region string) string {
	switch {
	case strings.HasPrefix(region, "cn-"):
		return "aws-cn"
	case strings.HasPrefix(region, "us-gov-"):
		return "aws-us-gov"
	}
	return "aws"
}

// deterministicID returns a UUID-shaped (version 5 layout) id hashed from
// the parts, so re-emitting the same transition yields the same event id
// and consumers can drop duplicates.
func deterministicID(parts ...string) string {
	h := sha1.Sum([]byte(strings.Join(parts, "\x00")))
	b := h[:16]
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	s := hex.EncodeToString(b)
	return s[0:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20] + "-" + s[20:32]
}
