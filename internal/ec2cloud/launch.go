package ec2cloud

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/cmlcm/cmlcm/internal/cloud"
)

// Launch runs one instance for spec.WorkerID.
//
// Idempotency has two layers. First, an instance already tagged with the
// worker id (and not terminated) is returned as is: that covers a retry
// after a fallback to another subnet, whose client token differs, and
// emulators that ignore client tokens. Second, ClientToken = worker id on
// the first subnet, so two concurrent launches still make one instance.
//
// InsufficientInstanceCapacity (and an instance type unsupported in the
// subnet's zone) moves on to the next subnet; any other error stops.
func (c *Client) Launch(ctx context.Context, spec cloud.LaunchSpec) (cloud.Instance, error) {
	if err := spec.Validate(); err != nil {
		return cloud.Instance{}, err
	}
	r, err := c.region(spec.Region)
	if err != nil {
		return cloud.Instance{}, err
	}
	existing, err := c.list(ctx, r, []types.Filter{
		{Name: aws.String("tag:" + cloud.TagWorkerID), Values: []string{spec.WorkerID}},
		{Name: aws.String("instance-state-name"), Values: stateNames(cloud.LiveStates)},
	})
	if err != nil {
		return cloud.Instance{}, err
	}
	if len(existing) > 0 {
		c.log.InfoContext(ctx, "launch: worker already has an instance", "worker", spec.WorkerID, "instance", existing[0].ID)
		return existing[0], nil
	}

	img, err := c.resolveImage(ctx, r, spec)
	if err != nil {
		return cloud.Instance{}, err
	}
	subnets := spec.SubnetIDs
	if len(subnets) == 0 {
		subnets = []string{""} // the default VPC's choice
	}
	var errs []error
	for i, subnet := range subnets {
		in := runInput(spec, img, subnet, clientToken(spec.WorkerID, i, subnet))
		inst, err := c.run(ctx, r, in)
		if err == nil {
			c.log.InfoContext(ctx, "launched instance", "worker", spec.WorkerID, "instance", inst.ID, "region", r.name, "subnet", subnet)
			return inst, nil
		}
		errs = append(errs, err)
		var ce *cloud.Error
		tryNext := errors.Is(err, cloud.ErrCapacity) || (errors.As(err, &ce) && ce.Code == "Unsupported")
		if !tryNext {
			return cloud.Instance{}, err
		}
		c.log.WarnContext(ctx, "launch: no capacity in subnet, trying the next", "worker", spec.WorkerID, "subnet", subnet, "err", err)
	}
	// Every subnet refused: report capacity, with each subnet's reason.
	return cloud.Instance{}, &cloud.Error{
		Kind:    cloud.ErrCapacity,
		Op:      "RunInstances",
		Code:    "InsufficientInstanceCapacity",
		Message: fmt.Sprintf("no subnet of %v had capacity for %s", spec.SubnetIDs, spec.InstanceType),
		Err:     errors.Join(errs...),
	}
}

func (c *Client) run(ctx context.Context, r *regional, in *ec2.RunInstancesInput) (cloud.Instance, error) {
	ctx, cancel := c.timeout(ctx)
	defer cancel()
	out, err := r.ec2.RunInstances(ctx, in)
	if err != nil {
		return cloud.Instance{}, classify("RunInstances", err)
	}
	if len(out.Instances) == 0 {
		return cloud.Instance{}, &cloud.Error{Op: "RunInstances", Message: "no instance in the response"}
	}
	inst := instanceFrom(r.name, out.Instances[0])
	if inst.State == cloud.StatePending {
		inst.SystemStatus, inst.InstanceStatus = cloud.CheckInitializing, cloud.CheckInitializing
	}
	return inst, nil
}

type image struct {
	id, name, rootDevice string
}

// resolveImage finds the AMI by id, or the newest available AMI whose
// name matches the pattern; either way one DescribeImages call, which
// also yields the root device name the volume size applies to.
func (c *Client) resolveImage(ctx context.Context, r *regional, spec cloud.LaunchSpec) (image, error) {
	in := &ec2.DescribeImagesInput{Owners: spec.AMIOwners}
	if spec.AMIID != "" {
		in.ImageIds = []string{spec.AMIID}
	} else {
		in.Filters = []types.Filter{
			{Name: aws.String("name"), Values: []string{spec.AMINamePattern}},
			{Name: aws.String("state"), Values: []string{"available"}},
		}
	}
	images, err := c.describeImages(ctx, r, in)
	if err != nil {
		return image{}, err
	}
	if len(images) == 0 {
		what := spec.AMIID
		if what == "" {
			what = "name " + spec.AMINamePattern
		}
		return image{}, &cloud.Error{Kind: cloud.ErrInvalidConfig, Op: "DescribeImages", Message: "no available AMI matches " + what}
	}
	// CreationDate is ISO 8601 UTC, so string order is time order.
	newest := slices.MaxFunc(images, func(a, b types.Image) int {
		return cmp.Compare(aws.ToString(a.CreationDate), aws.ToString(b.CreationDate))
	})
	return image{id: aws.ToString(newest.ImageId), name: aws.ToString(newest.Name), rootDevice: aws.ToString(newest.RootDeviceName)}, nil
}

func (c *Client) describeImages(ctx context.Context, r *regional, in *ec2.DescribeImagesInput) ([]types.Image, error) {
	var images []types.Image
	for {
		out, err := func() (*ec2.DescribeImagesOutput, error) {
			ctx, cancel := c.timeout(ctx)
			defer cancel()
			return r.ec2.DescribeImages(ctx, in)
		}()
		if err != nil {
			return nil, classify("DescribeImages", err)
		}
		images = append(images, out.Images...)
		if aws.ToString(out.NextToken) == "" {
			return images, nil
		}
		in.NextToken = out.NextToken
	}
}

func runInput(spec cloud.LaunchSpec, img image, subnet, token string) *ec2.RunInstancesInput {
	tags := ec2Tags(spec.AllTags())
	in := &ec2.RunInstancesInput{
		ImageId:          aws.String(img.id),
		InstanceType:     types.InstanceType(spec.InstanceType),
		MinCount:         aws.Int32(1),
		MaxCount:         aws.Int32(1),
		ClientToken:      aws.String(token),
		SecurityGroupIds: spec.SecurityGroupIDs,
		Monitoring:       &types.RunInstancesMonitoringEnabled{Enabled: aws.Bool(spec.DetailedMonitoring)},
		// IMDSv2 only: the CML controller needs no v1 metadata access.
		MetadataOptions: &types.InstanceMetadataOptionsRequest{HttpTokens: types.HttpTokensStateRequired},
		TagSpecifications: []types.TagSpecification{
			{ResourceType: types.ResourceTypeInstance, Tags: tags},
			{ResourceType: types.ResourceTypeVolume, Tags: tags},
		},
	}
	if subnet != "" {
		in.SubnetId = aws.String(subnet)
	}
	if spec.KeyName != "" {
		in.KeyName = aws.String(spec.KeyName)
	}
	if spec.InstanceProfile != "" {
		if strings.HasPrefix(spec.InstanceProfile, "arn:") {
			in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Arn: aws.String(spec.InstanceProfile)}
		} else {
			in.IamInstanceProfile = &types.IamInstanceProfileSpecification{Name: aws.String(spec.InstanceProfile)}
		}
	}
	if spec.RootVolumeGiB > 0 {
		dev := img.rootDevice
		if dev == "" {
			dev = "/dev/sda1"
		}
		in.BlockDeviceMappings = []types.BlockDeviceMapping{{
			DeviceName: aws.String(dev),
			Ebs: &types.EbsBlockDevice{
				VolumeSize:          aws.Int32(spec.RootVolumeGiB),
				VolumeType:          types.VolumeTypeGp3,
				DeleteOnTermination: aws.Bool(true),
			},
		}}
	}
	return in
}

// clientToken is the worker id on the first subnet (so a plain retry is
// idempotent at AWS) and a per-subnet variant on fallbacks: AWS rejects a
// reused token with different parameters (IdempotentParameterMismatch).
// Tokens are at most 64 ASCII characters; longer ids are hashed.
func clientToken(workerID string, attempt int, subnet string) string {
	token := workerID
	if attempt > 0 {
		token = workerID + "/" + subnet
	}
	if len(token) <= 64 && isASCII(token) {
		return token
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:]) // 64 hex characters
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
