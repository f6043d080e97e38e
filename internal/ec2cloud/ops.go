package ec2cloud

import (
	"context"
	"errors"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cmlcm/cmlcm/internal/cloud"
)

// Start starts a stopped instance (a running one is left as is).
func (c *Client) Start(ctx context.Context, region, id string) error {
	return c.ec2Call(ctx, region, "StartInstances", func(ctx context.Context, r *regional) error {
		_, err := r.ec2.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: []string{id}})
		return err
	})
}

// Stop stops a running instance (a stopped one is left as is).
func (c *Client) Stop(ctx context.Context, region, id string) error {
	return c.ec2Call(ctx, region, "StopInstances", func(ctx context.Context, r *regional) error {
		_, err := r.ec2.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{id}})
		return err
	})
}

// Terminate terminates an instance; one that no longer exists counts as
// terminated, so compensation and retries need no special case.
func (c *Client) Terminate(ctx context.Context, region, id string) error {
	err := c.ec2Call(ctx, region, "TerminateInstances", func(ctx context.Context, r *regional) error {
		_, err := r.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{id}})
		return err
	})
	if errors.Is(err, cloud.ErrNotFound) {
		return nil
	}
	return err
}

// Tag sets the tags in set and removes the keys in remove. Removing a
// managed key is refused: it would hide the instance from discovery.
func (c *Client) Tag(ctx context.Context, region, id string, set map[string]string, remove []string) error {
	for _, k := range remove {
		if k == cloud.TagManaged || k == cloud.TagWorkerID {
			return &cloud.Error{Kind: cloud.ErrInvalidConfig, Op: "DeleteTags", Message: "managed tag " + k + " cannot be removed"}
		}
	}
	if len(set) > 0 {
		err := c.ec2Call(ctx, region, "CreateTags", func(ctx context.Context, r *regional) error {
			_, err := r.ec2.CreateTags(ctx, &ec2.CreateTagsInput{Resources: []string{id}, Tags: ec2Tags(set)})
			return err
		})
		if err != nil {
			return err
		}
	}
	// A key both set and removed is set: the removal is dropped.
	remove = slices.DeleteFunc(slices.Clone(remove), func(k string) bool { _, ok := set[k]; return ok })
	if len(remove) == 0 {
		return nil
	}
	tags := make([]types.Tag, len(remove))
	for i, k := range remove {
		tags[i] = types.Tag{Key: aws.String(k)} // no value: delete whatever value it has
	}
	return c.ec2Call(ctx, region, "DeleteTags", func(ctx context.Context, r *regional) error {
		_, err := r.ec2.DeleteTags(ctx, &ec2.DeleteTagsInput{Resources: []string{id}, Tags: tags})
		return err
	})
}

// EnableMonitoring turns on detailed (1-minute) CloudWatch monitoring.
func (c *Client) EnableMonitoring(ctx context.Context, region, id string) error {
	return c.ec2Call(ctx, region, "MonitorInstances", func(ctx context.Context, r *regional) error {
		_, err := r.ec2.MonitorInstances(ctx, &ec2.MonitorInstancesInput{InstanceIds: []string{id}})
		return err
	})
}

// ec2Call runs one bounded, classified call in a region.
func (c *Client) ec2Call(ctx context.Context, region, op string, call func(context.Context, *regional) error) error {
	r, err := c.region(region)
	if err != nil {
		return err
	}
	ctx, cancel := c.timeout(ctx)
	defer cancel()
	return classify(op, call(ctx, r))
}
