package ec2cloud

import (
	"regexp"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cmlcm/cmlcm/internal/cloud"
)

// instanceFrom converts an SDK instance. Status checks are filled later
// from DescribeInstanceStatus; until then they read not-applicable.
func instanceFrom(region string, in types.Instance) cloud.Instance {
	out := cloud.Instance{
		ID:             aws.ToString(in.InstanceId),
		Region:         region,
		StateReason:    aws.ToString(in.StateTransitionReason),
		SystemStatus:   cloud.CheckNotApplicable,
		InstanceStatus: cloud.CheckNotApplicable,
		PublicIP:       aws.ToString(in.PublicIpAddress),
		PrivateIP:      aws.ToString(in.PrivateIpAddress),
		InstanceType:   string(in.InstanceType),
		AMIID:          aws.ToString(in.ImageId),
		SubnetID:       aws.ToString(in.SubnetId),
		LaunchTime:     aws.ToTime(in.LaunchTime),
		Tags:           tagMap(in.Tags),
	}
	if in.State != nil {
		out.State = cloud.State(in.State.Name)
	}
	if in.Placement != nil {
		out.AvailabilityZone = aws.ToString(in.Placement.AvailabilityZone)
	}
	if in.Monitoring != nil {
		out.Monitoring = string(in.Monitoring.State)
	}
	out.StateTransitionTime = transitionTime(out.StateReason)
	return out
}

func tagMap(tags []types.Tag) map[string]string {
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}

func ec2Tags(m map[string]string) []types.Tag {
	tags := make([]types.Tag, 0, len(m))
	for k, v := range m {
		tags = append(tags, types.Tag{Key: aws.String(k), Value: aws.String(v)})
	}
	return tags
}

// reasonTime matches the timestamp EC2 puts in user-initiated transition
// reasons: "User initiated (2024-05-01 10:11:12 GMT)" (moto writes UTC).
var reasonTime = regexp.MustCompile(`\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (?:GMT|UTC)\)`)

// transitionTime extracts the state transition time from the reason, the
// only place EC2 reports it; zero when absent.
func transitionTime(reason string) time.Time {
	m := reasonTime.FindStringSubmatch(reason)
	if m == nil {
		return time.Time{}
	}
	t, err := time.Parse(time.DateTime, m[1])
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

func stateNames(states []cloud.State) []string {
	out := make([]string, len(states))
	for i, s := range states {
		out[i] = string(s)
	}
	return out
}

// chunk splits ids into slices of at most n.
func chunk[T any](ids []T, n int) [][]T {
	var out [][]T
	for len(ids) > n {
		out = append(out, ids[:n:n])
		ids = ids[n:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}

// dedupe drops empty and repeated ids, keeping first-seen order.
func dedupe(ids []string) []string {
	seen := make(map[string]bool, len(ids))
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
