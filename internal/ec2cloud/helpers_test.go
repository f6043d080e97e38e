package ec2cloud

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go/middleware"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/cmlcm/cmlcm/internal/motoserver"
)

func TestMain(m *testing.M) {
	code := m.Run()
	motoserver.Stop()
	os.Exit(code)
}

// Each test works in its own region so tests sharing one moto server (and
// other packages using it at the same time) never see each other's
// instances.
var regionSeq atomic.Int32

var testRegions = []string{
	"us-west-1", "us-west-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-central-1",
	"eu-north-1", "ap-southeast-1", "ap-southeast-2", "ap-northeast-2", "ap-northeast-3",
	"ap-south-1", "sa-east-1", "us-east-2", "eu-south-1", "af-south-1", "ap-east-1",
	"eu-central-2", "eu-south-2", "me-central-1", "il-central-1", "ap-south-2",
}

func freshRegion(t testing.TB) string {
	n := int(regionSeq.Add(1)) - 1
	if n >= len(testRegions) {
		t.Fatalf("out of test regions: add more to testRegions")
	}
	return testRegions[n]
}

// limitChecker fails the test when any request exceeds an AWS API limit
// that moto does not enforce.
type limitChecker struct {
	mu         sync.Mutex
	violations []string
}

func (l *limitChecker) middleware(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("limitChecker",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			l.check(in.Parameters)
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

func (l *limitChecker) check(params any) {
	var v []string
	filterValues := func(fs []types.Filter) {
		n := 0
		for _, f := range fs {
			n += len(f.Values)
		}
		if n > MaxFilterValues {
			v = append(v, fmt.Sprintf("%d filter values", n))
		}
	}
	switch p := params.(type) {
	case *ec2.DescribeInstancesInput:
		if len(p.InstanceIds) > MaxDescribeInstanceIDs {
			v = append(v, fmt.Sprintf("DescribeInstances with %d ids", len(p.InstanceIds)))
		}
		if len(p.InstanceIds) > 0 && p.MaxResults != nil {
			v = append(v, "DescribeInstances with ids and MaxResults")
		}
		if p.MaxResults != nil && (*p.MaxResults < 5 || *p.MaxResults > MaxDescribePageSize) {
			v = append(v, fmt.Sprintf("DescribeInstances MaxResults %d", *p.MaxResults))
		}
		filterValues(p.Filters)
	case *ec2.DescribeInstanceStatusInput:
		if len(p.InstanceIds) > MaxStatusInstanceIDs {
			v = append(v, fmt.Sprintf("DescribeInstanceStatus with %d ids", len(p.InstanceIds)))
		}
		filterValues(p.Filters)
	case *cloudwatch.GetMetricDataInput:
		if len(p.MetricDataQueries) > MaxMetricQueries {
			v = append(v, fmt.Sprintf("GetMetricData with %d queries", len(p.MetricDataQueries)))
		}
	case *ec2.RunInstancesInput:
		if p.ClientToken == nil || len(*p.ClientToken) > 64 {
			v = append(v, "RunInstances without a valid client token")
		}
	}
	if len(v) > 0 {
		l.mu.Lock()
		l.violations = append(l.violations, v...)
		l.mu.Unlock()
	}
}

func (l *limitChecker) verify(t testing.TB) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, v := range l.violations {
		t.Errorf("API limit exceeded: %s", v)
	}
}

type fixture struct {
	t       testing.TB
	region  string
	cfg     aws.Config
	client  *Client
	raw     *ec2.Client // for setup, not counted
	cw      *cloudwatch.Client
	limits  *limitChecker
	subnets []string
	sg      string
	// run makes names unique per test run: a shared moto server
	// (MOTO_ENDPOINT) keeps what earlier runs created.
	run string
}

// newFixture builds a Client on a fresh moto region with a VPC, two
// subnets and a security group.
func newFixture(t testing.TB, opts Options) *fixture {
	t.Helper()
	cfg := motoserver.Config(t)
	f := &fixture{t: t, region: freshRegion(t), cfg: cfg, limits: &limitChecker{}, run: fmt.Sprintf("%x", rand.Uint64())}
	opts.Regions = append(opts.Regions, Region{Name: f.region})
	opts.CloudWatchQuery = true
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.APIOptions = append(opts.APIOptions, f.limits.middleware)
	c, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	f.client = c
	rcfg := cfg.Copy()
	rcfg.Region = f.region
	f.raw = ec2.NewFromConfig(rcfg)
	f.cw = cloudwatch.NewFromConfig(rcfg, func(o *cloudwatch.Options) {
		o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801)
	})
	t.Cleanup(func() { f.limits.verify(t) })

	ctx := context.Background()
	vpc, err := f.raw.CreateVpc(ctx, &ec2.CreateVpcInput{CidrBlock: aws.String("10.20.0.0/16")})
	if err != nil {
		t.Fatal(err)
	}
	for i, az := range []string{"a", "b"} {
		sn, err := f.raw.CreateSubnet(ctx, &ec2.CreateSubnetInput{
			VpcId:            vpc.Vpc.VpcId,
			CidrBlock:        aws.String(fmt.Sprintf("10.20.%d.0/20", i*16)), // room for the 1,000-instance bench
			AvailabilityZone: aws.String(f.region + az),
		})
		if err != nil {
			t.Fatal(err)
		}
		f.subnets = append(f.subnets, aws.ToString(sn.Subnet.SubnetId))
	}
	sg, err := f.raw.CreateSecurityGroup(ctx, &ec2.CreateSecurityGroupInput{
		GroupName: aws.String("cml"), Description: aws.String("cml workers"), VpcId: vpc.Vpc.VpcId,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.sg = aws.ToString(sg.GroupId)
	return f
}

// id returns name made unique to this run.
func (f *fixture) id(name string) string { return name + "-" + f.run }

// registerAMI registers an image named name-<run> and returns its id.
func (f *fixture) registerAMI(name string) string {
	f.t.Helper()
	out, err := f.raw.RegisterImage(context.Background(), &ec2.RegisterImageInput{
		Name: aws.String(f.id(name)), RootDeviceName: aws.String("/dev/sda1"),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return aws.ToString(out.ImageId)
}

// runBulk starts n instances in one RunInstances call (setup only).
func (f *fixture) runBulk(ami string, n int32, tags map[string]string) []string {
	f.t.Helper()
	in := &ec2.RunInstancesInput{
		ImageId: aws.String(ami), InstanceType: types.InstanceTypeM5znMetal,
		MinCount: aws.Int32(n), MaxCount: aws.Int32(n), SubnetId: aws.String(f.subnets[0]),
	}
	all := map[string]string{"test-run": f.run}
	maps.Copy(all, tags)
	in.TagSpecifications = []types.TagSpecification{{ResourceType: types.ResourceTypeInstance, Tags: ec2Tags(all)}}
	out, err := f.raw.RunInstances(context.Background(), in)
	if err != nil {
		f.t.Fatal(err)
	}
	ids := make([]string, len(out.Instances))
	for i, inst := range out.Instances {
		ids[i] = aws.ToString(inst.InstanceId)
	}
	return ids
}

// putMetrics seeds one datapoint per instance and metric, up to 1000
// datapoints per PutMetricData call.
func (f *fixture) putMetrics(namespace, name string, ids []string, at time.Time, value func(i int) float64) {
	f.t.Helper()
	var data []cwtypes.MetricDatum
	flush := func() {
		if len(data) == 0 {
			return
		}
		if _, err := f.cw.PutMetricData(context.Background(), &cloudwatch.PutMetricDataInput{Namespace: aws.String(namespace), MetricData: data}); err != nil {
			f.t.Fatal(err)
		}
		data = nil
	}
	for i, id := range ids {
		data = append(data, cwtypes.MetricDatum{
			MetricName: aws.String(name),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(id)}},
			Timestamp:  aws.Time(at),
			Value:      aws.Float64(value(i)),
			Unit:       cwtypes.StandardUnitPercent,
		})
		if len(data) == 1000 {
			flush()
		}
	}
	flush()
}
