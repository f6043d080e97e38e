// Package ec2cloud is the production cloud adapter: EC2 and CloudWatch
// through aws-sdk-go-v2, across a configured list of regions, each
// optionally in another account through an STS-assumed role.
//
// Every call is bounded by a timeout, retried by the SDK's adaptive
// retryer, classified into the cloud.Err* classes, and counted per
// operation (Counter) so tests and the benchmark can assert how many AWS
// calls a fleet-wide read costs. Reads are batched to the API limits: one
// call per page, never one call per instance.
package ec2cloud

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/cmlcm/cmlcm/internal/cloud"
)

// API limits the batching follows. AWS documents them; moto enforces none,
// so our code enforces them and the tests check every request.
const (
	// MaxDescribeInstanceIDs is the most instance ids one DescribeInstances
	// call accepts (and then returns unpaginated).
	MaxDescribeInstanceIDs = 1000
	// MaxDescribePageSize is the largest MaxResults of a filtered
	// DescribeInstances / DescribeInstanceStatus page.
	MaxDescribePageSize = 1000
	// MaxStatusInstanceIDs is the most instance ids one
	// DescribeInstanceStatus call accepts.
	MaxStatusInstanceIDs = 100
	// MaxFilterValues is the most values EC2 accepts across one call's
	// filters (FilterLimitExceeded beyond).
	MaxFilterValues = 200
	// MaxMetricQueries is the most MetricDataQueries in one GetMetricData
	// call.
	MaxMetricQueries = 500
)

// Region is one region the adapter may act in.
type Region struct {
	Name string
	// RoleARN, when set, is assumed through STS for every call in the
	// region (cross-account); empty uses the base credentials.
	RoleARN     string
	ExternalID  string // optional sts:ExternalId of the role's trust policy
	SessionName string // defaults to "cmlcm"
}

// Options configure a Client. Zero values take the defaults.
type Options struct {
	// Regions the adapter serves; empty means only the base config's region.
	Regions []Region
	// CallTimeout bounds every API call (each page of a paginated read),
	// including the SDK's retries. Default 30s.
	CallTimeout time.Duration
	// MaxAttempts of the adaptive retryer, first try included. Default 5.
	MaxAttempts int
	// MaxBackoff caps the retryer's backoff. Default 20s (the SDK's).
	MaxBackoff time.Duration
	// MetricPeriod is the CloudWatch period of metric reads. Default 60s
	// (detailed monitoring; basic monitoring still yields 5-minute points).
	MetricPeriod time.Duration
	// Counter receives a count of every API call; one is created if nil.
	Counter *Counter
	// CloudWatchQuery makes CloudWatch calls use the awsQuery protocol
	// instead of the SDK's default RPCv2 CBOR. AWS serves both; emulators
	// (moto 5.2) only the former.
	CloudWatchQuery bool
	// APIOptions are extra SDK middleware for every client (tests inject
	// faults here).
	APIOptions []func(*middleware.Stack) error
	Logger     *slog.Logger
}

// Client is the EC2/CloudWatch adapter. It is safe for concurrent use;
// per-region clients are built on first use and reused.
type Client struct {
	base    aws.Config
	opts    Options
	regions map[string]Region
	log     *slog.Logger

	mu      sync.Mutex
	clients map[string]*regional
}

type regional struct {
	name string
	ec2  *ec2.Client
	cw   *cloudwatch.Client
}

var _ cloud.Cloud = (*Client)(nil)

// New returns an adapter using base for endpoints and default credentials.
func New(base aws.Config, opts Options) (*Client, error) {
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 30 * time.Second
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 5
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 20 * time.Second
	}
	if opts.MetricPeriod <= 0 {
		opts.MetricPeriod = time.Minute
	}
	if opts.MetricPeriod%time.Second != 0 {
		return nil, fmt.Errorf("ec2cloud: metric period %s is not whole seconds: %w", opts.MetricPeriod, cloud.ErrInvalidConfig)
	}
	if opts.Counter == nil {
		opts.Counter = NewCounter()
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(opts.Regions) == 0 {
		if base.Region == "" {
			return nil, fmt.Errorf("ec2cloud: no regions configured and no default region: %w", cloud.ErrInvalidConfig)
		}
		opts.Regions = []Region{{Name: base.Region}}
	}
	regions := make(map[string]Region, len(opts.Regions))
	for _, r := range opts.Regions {
		if r.Name == "" {
			return nil, fmt.Errorf("ec2cloud: region without a name: %w", cloud.ErrInvalidConfig)
		}
		if _, dup := regions[r.Name]; dup {
			return nil, fmt.Errorf("ec2cloud: region %s configured twice: %w", r.Name, cloud.ErrInvalidConfig)
		}
		if r.SessionName == "" {
			r.SessionName = "cmlcm"
		}
		regions[r.Name] = r
	}
	return &Client{
		base:    base,
		opts:    opts,
		regions: regions,
		log:     opts.Logger,
		clients: make(map[string]*regional),
	}, nil
}

// Counter returns the call counter shared by all regional clients.
func (c *Client) Counter() *Counter { return c.opts.Counter }

// Regions returns the configured region names.
func (c *Client) Regions() []string {
	names := make([]string, 0, len(c.opts.Regions))
	for _, r := range c.opts.Regions {
		names = append(names, r.Name)
	}
	return names
}

// region returns the clients of a configured region, building them on
// first use.
func (c *Client) region(name string) (*regional, error) {
	rc, ok := c.regions[name]
	if !ok {
		return nil, &cloud.Error{Kind: cloud.ErrInvalidConfig, Op: "region", Message: fmt.Sprintf("region %q is not configured", name)}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.clients[name]; ok {
		return r, nil
	}
	cfg := c.base.Copy()
	cfg.Region = name
	// A fresh slice: appending to the base config's would share its
	// backing array between regions.
	cfg.APIOptions = slices.Concat(cfg.APIOptions, []func(*middleware.Stack) error{c.opts.Counter.middleware}, c.opts.APIOptions)
	if rc.RoleARN != "" {
		// The STS client uses the base credentials; the cache refreshes the
		// assumed credentials shortly before they expire, so a role is
		// assumed once per hour per region, not once per call.
		stsClient := sts.NewFromConfig(cfg, func(o *sts.Options) { o.Retryer = c.retryer() })
		provider := stscreds.NewAssumeRoleProvider(stsClient, rc.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = rc.SessionName
			if rc.ExternalID != "" {
				o.ExternalID = aws.String(rc.ExternalID)
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(provider)
	}
	r := &regional{
		name: name,
		ec2:  ec2.NewFromConfig(cfg, func(o *ec2.Options) { o.Retryer = c.retryer() }),
		cw: cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) {
			o.Retryer = c.retryer()
			if c.opts.CloudWatchQuery {
				o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801)
			}
		}),
	}
	c.clients[name] = r
	return r, nil
}

// retryer is the SDK's adaptive retryer: it backs off on throttling and
// also rate-limits the client itself once throttled, which is what a
// fleet-wide poller should do.
func (c *Client) retryer() aws.Retryer {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = c.opts.MaxAttempts
			so.MaxBackoff = c.opts.MaxBackoff
		})
	})
}

// timeout bounds one API call.
func (c *Client) timeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.opts.CallTimeout)
}
