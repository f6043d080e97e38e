package ec2cloud

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cmlcm/cmlcm/internal/cloud"
)

// Describe returns the instances among ids with their status checks, in
// ⌈n/1000⌉ DescribeInstances calls plus ⌈live/100⌉ DescribeInstanceStatus
// calls (live = pending or running: other states have no status checks).
// Ids EC2 no longer knows are left out.
func (c *Client) Describe(ctx context.Context, region string, ids []string) ([]cloud.Instance, error) {
	r, err := c.region(region)
	if err != nil {
		return nil, err
	}
	var out []cloud.Instance
	for _, batch := range chunk(dedupe(ids), MaxDescribeInstanceIDs) {
		insts, err := c.describeIDs(ctx, r, batch)
		if err != nil {
			return nil, err
		}
		out = append(out, insts...)
	}
	if err := c.addStatus(ctx, r, out); err != nil {
		return nil, err
	}
	return out, nil
}

// describeIDs describes up to 1000 ids in one call. EC2 fails the whole
// call when any id is unknown (terminated instances vanish after about an
// hour), naming the culprits: those are dropped and the call repeated.
func (c *Client) describeIDs(ctx context.Context, r *regional, ids []string) ([]cloud.Instance, error) {
	in := &ec2.DescribeInstancesInput{InstanceIds: ids}
	for {
		insts, err := c.describePages(ctx, r, in)
		if err == nil {
			return insts, nil
		}
		missing := missingInstanceIDs(err)
		rest := slices.DeleteFunc(slices.Clone(in.InstanceIds), func(id string) bool { return slices.Contains(missing, id) })
		if len(missing) == 0 || len(rest) == len(in.InstanceIds) {
			return nil, err
		}
		c.log.DebugContext(ctx, "describe: dropping unknown instances", "ids", missing)
		if len(rest) == 0 {
			return nil, nil
		}
		in.InstanceIds = rest
	}
}

// describePages runs DescribeInstances to the last page, one call per
// page, each with its own timeout.
func (c *Client) describePages(ctx context.Context, r *regional, in *ec2.DescribeInstancesInput) ([]cloud.Instance, error) {
	var out []cloud.Instance
	in.NextToken = nil
	for {
		page, err := func() (*ec2.DescribeInstancesOutput, error) {
			ctx, cancel := c.timeout(ctx)
			defer cancel()
			return r.ec2.DescribeInstances(ctx, in)
		}()
		if err != nil {
			return nil, classify("DescribeInstances", err)
		}
		for _, res := range page.Reservations {
			for _, inst := range res.Instances {
				out = append(out, instanceFrom(r.name, inst))
			}
		}
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

// list returns the instances matching filters, 1000 per page.
func (c *Client) list(ctx context.Context, r *regional, filters []types.Filter) ([]cloud.Instance, error) {
	return c.describePages(ctx, r, &ec2.DescribeInstancesInput{Filters: filters, MaxResults: aws.Int32(MaxDescribePageSize)})
}

// addStatus fills the status checks of the pending and running instances,
// 100 ids per DescribeInstanceStatus call.
func (c *Client) addStatus(ctx context.Context, r *regional, insts []cloud.Instance) error {
	var ids []string
	for _, in := range insts {
		if in.State == cloud.StatePending || in.State == cloud.StateRunning {
			ids = append(ids, in.ID)
		}
	}
	status := make(map[string]types.InstanceStatus, len(ids))
	for _, batch := range chunk(ids, MaxStatusInstanceIDs) {
		in := &ec2.DescribeInstanceStatusInput{InstanceIds: batch, IncludeAllInstances: aws.Bool(true)}
		for {
			statuses, err := c.statusPages(ctx, r, in)
			if err == nil {
				for _, s := range statuses {
					status[aws.ToString(s.InstanceId)] = s
				}
				break
			}
			// An instance can vanish between the two calls: drop it, retry.
			missing := missingInstanceIDs(err)
			rest := slices.DeleteFunc(slices.Clone(in.InstanceIds), func(id string) bool { return slices.Contains(missing, id) })
			if len(missing) == 0 || len(rest) == len(in.InstanceIds) {
				return err
			}
			if len(rest) == 0 {
				break
			}
			in.InstanceIds = rest
		}
	}
	for i := range insts {
		in := &insts[i]
		if in.State != cloud.StatePending && in.State != cloud.StateRunning {
			continue
		}
		s, ok := status[in.ID]
		if !ok {
			in.SystemStatus, in.InstanceStatus = cloud.CheckInsufficientData, cloud.CheckInsufficientData
			continue
		}
		in.SystemStatus = checkOf(s.SystemStatus)
		in.InstanceStatus = checkOf(s.InstanceStatus)
	}
	return nil
}

func (c *Client) statusPages(ctx context.Context, r *regional, in *ec2.DescribeInstanceStatusInput) ([]types.InstanceStatus, error) {
	var out []types.InstanceStatus
	in.NextToken = nil
	for {
		page, err := func() (*ec2.DescribeInstanceStatusOutput, error) {
			ctx, cancel := c.timeout(ctx)
			defer cancel()
			return r.ec2.DescribeInstanceStatus(ctx, in)
		}()
		if err != nil {
			return nil, classify("DescribeInstanceStatus", err)
		}
		out = append(out, page.InstanceStatuses...)
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

func checkOf(s *types.InstanceStatusSummary) cloud.CheckStatus {
	if s == nil || s.Status == "" {
		return cloud.CheckInsufficientData
	}
	return cloud.CheckStatus(s.Status)
}

// Discover lists instances by tags and/or AMI name pattern, for import.
// The pattern is resolved to image ids with one DescribeImages search,
// then used as an image-id filter (at most 200 ids per DescribeInstances
// scan, the EC2 filter-value limit).
func (c *Client) Discover(ctx context.Context, region string, f cloud.DiscoverFilter) ([]cloud.Instance, error) {
	r, err := c.region(region)
	if err != nil {
		return nil, err
	}
	filters := []types.Filter{{Name: aws.String("instance-state-name"), Values: stateNames(f.StatesOrDefault())}}
	for _, k := range slices.Sorted(maps.Keys(f.Tags)) {
		if v := f.Tags[k]; v != "" {
			filters = append(filters, types.Filter{Name: aws.String("tag:" + k), Values: []string{v}})
		} else {
			filters = append(filters, types.Filter{Name: aws.String("tag-key"), Values: []string{k}})
		}
	}
	scans := [][]types.Filter{filters}
	if f.AMINamePattern != "" {
		images, err := c.describeImages(ctx, r, &ec2.DescribeImagesInput{
			Owners:  f.AMIOwners,
			Filters: []types.Filter{{Name: aws.String("name"), Values: []string{f.AMINamePattern}}},
		})
		if err != nil {
			return nil, err
		}
		if len(images) == 0 {
			return nil, nil
		}
		ids := make([]string, len(images))
		for i, img := range images {
			ids[i] = aws.ToString(img.ImageId)
		}
		used := 0
		for _, fl := range filters {
			used += len(fl.Values)
		}
		per := MaxFilterValues - used
		if per <= 0 {
			return nil, &cloud.Error{Kind: cloud.ErrInvalidConfig, Op: "Discover", Message: fmt.Sprintf("filter uses %d values, EC2 allows %d", used, MaxFilterValues)}
		}
		scans = scans[:0]
		for _, batch := range chunk(ids, per) {
			scans = append(scans, append(slices.Clone(filters), types.Filter{Name: aws.String("image-id"), Values: batch}))
		}
	}
	var out []cloud.Instance
	for _, fl := range scans {
		insts, err := c.list(ctx, r, fl)
		if err != nil {
			return nil, err
		}
		out = append(out, insts...)
	}
	if err := c.addStatus(ctx, r, out); err != nil {
		return nil, err
	}
	return out, nil
}
