package ec2cloud

import (
	"context"
	"testing"
	"time"
)

// BenchmarkFleetRead is the `make bench` figure: describe (state + status
// checks) and metrics (CPU + memory) of a 1,000-instance fleet against the
// emulator, with the AWS calls made beside the theoretical minimum:
//
//	DescribeInstances      ⌈1000/1000⌉ = 1   (ids per call)
//	DescribeInstanceStatus ⌈1000/100⌉  = 10  (ids per call)
//	GetMetricData          ⌈2×1000/500⌉ = 4  (queries per call)
//	total                                15
func BenchmarkFleetRead(b *testing.B) {
	const fleet = 1000
	f := newFixture(b, Options{})
	ami := f.registerAMI("cml-2.9.0-bench")
	ids := f.runBulk(ami, fleet, map[string]string{"cmlcm:managed": "true"})
	now := time.Now().UTC().Truncate(time.Minute)
	at := now.Add(-2 * time.Minute)
	f.putMetrics("AWS/EC2", "CPUUtilization", ids, at, func(i int) float64 { return float64(i % 100) })
	f.putMetrics("CWAgent", "mem_used_percent", ids, at, func(i int) float64 { return float64(i % 50) })
	// A short window keeps the emulator's per-period scan small; the call
	// count does not depend on it.
	from, to := now.Add(-5*time.Minute), now

	minimum := map[string]int{
		"DescribeInstances":      ceilDiv(fleet, MaxDescribeInstanceIDs),
		"DescribeInstanceStatus": ceilDiv(fleet, MaxStatusInstanceIDs),
		"GetMetricData":          ceilDiv(2*fleet, MaxMetricQueries),
	}
	ctx := context.Background()
	c := f.client
	var describeTime, metricsTime time.Duration
	b.ResetTimer()
	for b.Loop() {
		c.Counter().Reset()
		start := time.Now()
		insts, err := c.Describe(ctx, f.region, ids)
		if err != nil {
			b.Fatal(err)
		}
		describeTime += time.Since(start)
		start = time.Now()
		samples, err := c.Metrics(ctx, f.region, ids, from, to)
		if err != nil {
			b.Fatal(err)
		}
		metricsTime += time.Since(start)
		if len(insts) != fleet || len(samples) != fleet {
			b.Fatalf("described %d, sampled %d, want %d", len(insts), len(samples), fleet)
		}
	}
	b.StopTimer()
	calls := c.Counter().Calls()
	total, minTotal := 0, 0
	for _, op := range []string{"DescribeInstances", "DescribeInstanceStatus", "GetMetricData"} {
		min := minimum[op]
		b.ReportMetric(float64(calls[op]), op+"-calls/op")
		b.Logf("%-24s calls %3d  theoretical minimum %3d", op, calls[op], min)
		total += calls[op]
		minTotal += min
	}
	if total != c.Counter().Total() {
		b.Errorf("unexpected operations: %v", calls)
	}
	b.ReportMetric(float64(total), "aws-calls/op")
	b.ReportMetric(float64(minTotal), "min-calls/op")
	b.ReportMetric(float64(describeTime.Milliseconds())/float64(b.N), "describe-ms/op")
	b.ReportMetric(float64(metricsTime.Milliseconds())/float64(b.N), "metrics-ms/op")
	b.Logf("%-24s calls %3d  theoretical minimum %3d (attempts %d)", "total", total, minTotal, c.Counter().Attempts())
	if total > minTotal {
		b.Errorf("%d calls for %d instances, minimum %d", total, fleet, minTotal)
	}
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
