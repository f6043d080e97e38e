package ec2cloud

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/cmlcm/cmlcm/internal/cloud"
)

// The metrics read per instance. Memory comes from the CloudWatch agent,
// which must publish mem_used_percent with the InstanceId dimension only
// (append_dimensions {"InstanceId": "${aws:InstanceId}"}): GetMetricData
// matches dimension sets exactly.
var instanceMetrics = []struct {
	prefix     string // query id prefix: ids must start with a lower-case letter
	namespace  string
	metricName string
}{
	{"c", "AWS/EC2", "CPUUtilization"},
	{"m", "CWAgent", "mem_used_percent"},
}

// Metrics returns the latest CPU and memory readings in [from, to] of
// every instance, with ⌈2n/500⌉ GetMetricData calls (more only when
// CloudWatch pages a response). Instances without datapoints are absent.
func (c *Client) Metrics(ctx context.Context, region string, ids []string, from, to time.Time) (map[string]cloud.MetricSample, error) {
	r, err := c.region(region)
	if err != nil {
		return nil, err
	}
	if !to.After(from) {
		return nil, &cloud.Error{Kind: cloud.ErrInvalidConfig, Op: "GetMetricData", Message: fmt.Sprintf("empty window %s..%s", from, to)}
	}
	out := make(map[string]cloud.MetricSample)
	for _, batch := range metricBatches(dedupe(ids), int32(c.opts.MetricPeriod/time.Second)) {
		if err := c.metricBatch(ctx, r, batch, from, to, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// metricBatch is one logical GetMetricData request: at most 500 queries,
// paged by CloudWatch when the datapoints exceed its response size.
type metricBatch struct {
	queries []cwtypes.MetricDataQuery
	owner   map[string]string // query id → instance id
}

// metricBatches packs the queries of all instances into batches of at most
// MaxMetricQueries, keeping an instance's queries in the same batch.
func metricBatches(ids []string, periodSeconds int32) []metricBatch {
	perInstance := len(instanceMetrics)
	perBatch := MaxMetricQueries / perInstance
	var batches []metricBatch
	for _, group := range chunk(ids, perBatch) {
		b := metricBatch{owner: make(map[string]string, len(group)*perInstance)}
		for i, id := range group {
			for _, m := range instanceMetrics {
				qid := fmt.Sprintf("%s%d", m.prefix, i)
				b.owner[qid] = id
				b.queries = append(b.queries, cwtypes.MetricDataQuery{
					Id: aws.String(qid),
					MetricStat: &cwtypes.MetricStat{
						Metric: &cwtypes.Metric{
							Namespace:  aws.String(m.namespace),
							MetricName: aws.String(m.metricName),
							Dimensions: []cwtypes.Dimension{{Name: aws.String("InstanceId"), Value: aws.String(id)}},
						},
						Period: aws.Int32(periodSeconds),
						Stat:   aws.String("Average"),
					},
					ReturnData: aws.Bool(true),
				})
			}
		}
		batches = append(batches, b)
	}
	return batches
}

func (c *Client) metricBatch(ctx context.Context, r *regional, b metricBatch, from, to time.Time, out map[string]cloud.MetricSample) error {
	if len(b.queries) > MaxMetricQueries {
		// Unreachable by construction; a guard so a change to
		// instanceMetrics can never send a request AWS rejects.
		return fmt.Errorf("ec2cloud: %d metric queries in one call exceeds %d", len(b.queries), MaxMetricQueries)
	}
	in := &cloudwatch.GetMetricDataInput{
		MetricDataQueries: b.queries,
		StartTime:         aws.Time(from),
		EndTime:           aws.Time(to),
		ScanBy:            cwtypes.ScanByTimestampDescending,
	}
	for {
		page, err := func() (*cloudwatch.GetMetricDataOutput, error) {
			ctx, cancel := c.timeout(ctx)
			defer cancel()
			return r.cw.GetMetricData(ctx, in)
		}()
		if err != nil {
			return classify("GetMetricData", err)
		}
		for _, res := range page.MetricDataResults {
			qid := aws.ToString(res.Id)
			id, ok := b.owner[qid]
			if !ok {
				continue
			}
			// Take the newest datapoint by timestamp rather than trusting
			// ScanBy order, which emulators ignore.
			var at time.Time
			var v float64
			for i, ts := range res.Timestamps {
				if i < len(res.Values) && ts.After(at) {
					at, v = ts, res.Values[i]
				}
			}
			if at.IsZero() {
				continue
			}
			s := out[id]
			s.InstanceID = id
			switch qid[0] {
			case 'c':
				if at.After(s.CPUAt) {
					s.CPUPercent, s.CPUAt = v, at
				}
			case 'm':
				if at.After(s.MemoryAt) {
					s.MemoryPercent, s.MemoryAt = v, at
				}
			}
			out[id] = s
		}
		if aws.ToString(page.NextToken) == "" {
			return nil
		}
		in.NextToken = page.NextToken
	}
}
