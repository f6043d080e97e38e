package cloud

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStateChangeEventShape(t *testing.T) {
	c := StateChange{
		ID:         "7bf73129-1428-4cd3-a780-95db273d1602",
		Account:    "123456789012",
		Region:     "us-east-1",
		Time:       time.Date(2015, 11, 11, 21, 29, 54, 123456789, time.FixedZone("X", 3600)),
		InstanceID: "i-abcd1111",
		State:      StatePending,
	}
	got, err := json.Marshal(c.Event())
	if err != nil {
		t.Fatal(err)
	}
	// The sample from the EC2 EventBridge documentation, byte for byte
	// apart from key order (which encoding/json fixes by struct order).
	want := `{"version":"0","id":"7bf73129-1428-4cd3-a780-95db273d1602","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","account":"123456789012","time":"2015-11-11T20:29:54Z","region":"us-east-1","resources":["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],"detail":{"instance-id":"i-abcd1111","state":"pending"}}`
	if string(got) != want {
		t.Fatalf("event JSON\n got %s\nwant %s", got, want)
	}
	back, err := ParseStateChange(c.Event())
	if err != nil {
		t.Fatal(err)
	}
	if back.InstanceID != c.InstanceID || back.State != c.State || !back.Time.Equal(c.Time.Truncate(time.Second)) || back.ID != c.ID {
		t.Fatalf("round trip: %+v", back)
	}
}

func TestStateChangeDerivedIDIsStable(t *testing.T) {
	c := StateChange{Account: "1", Region: "eu-west-1", Time: time.Unix(100, 0), InstanceID: "i-1", State: StateRunning}
	a, b := c.Event().ID, c.Event().ID
	if a != b || len(a) != 36 || a[14] != '5' {
		t.Fatalf("ids %q %q", a, b)
	}
	c.State = StateStopped
	if c.Event().ID == a {
		t.Fatal("different transitions share an id")
	}
}

func TestParseStateChangeRejects(t *testing.T) {
	ev := StateChange{Region: "us-east-1", InstanceID: "i-1", State: StateRunning}.Event()
	ev.Source = "aws.s3"
	if _, err := ParseStateChange(ev); err == nil {
		t.Fatal("accepted a non-EC2 event")
	}
}

func TestInstanceARNPartition(t *testing.T) {
	for region, want := range map[string]string{
		"us-east-1":     "arn:aws:ec2:us-east-1:1:instance/i-1",
		"cn-north-1":    "arn:aws-cn:ec2:cn-north-1:1:instance/i-1",
		"us-gov-west-1": "arn:aws-us-gov:ec2:us-gov-west-1:1:instance/i-1",
	} {
		if got := InstanceARN(region, "1", "i-1"); got != want {
			t.Errorf("%s: %s", region, got)
		}
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"cml-2.9*", "cml-2.9.0-controller", true},
		{"cml-2.9*", "cml-2.8.1", false},
		{"*controller", "cml/2.9/controller", true},
		{"cml-?.?", "cml-2.9", true},
		{"cml-?.?", "cml-2.10", false},
		{"*", "", true},
		{"", "", true},
		{"", "x", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"exact", "exact", true},
	}
	for _, tt := range tests {
		if got := MatchPattern(tt.pattern, tt.name); got != tt.want {
			t.Errorf("MatchPattern(%q, %q) = %v", tt.pattern, tt.name, got)
		}
	}
}

func TestLaunchSpecValidate(t *testing.T) {
	ok := LaunchSpec{WorkerID: "w1", Region: "us-east-1", AMIID: "ami-1", InstanceType: "m5zn.metal"}
	tests := []struct {
		name   string
		mutate func(*LaunchSpec)
		want   string
	}{
		{"valid", func(*LaunchSpec) {}, ""},
		{"no worker", func(s *LaunchSpec) { s.WorkerID = "" }, "worker id"},
		{"both AMIs", func(s *LaunchSpec) { s.AMINamePattern = "cml*" }, "exactly one"},
		{"no AMI", func(s *LaunchSpec) { s.AMIID = "" }, "exactly one"},
		{"no type", func(s *LaunchSpec) { s.InstanceType = "" }, "instance type"},
		{"aws tag", func(s *LaunchSpec) { s.Tags = map[string]string{"aws:x": "1"} }, "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.mutate(&s)
			err := s.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalidConfig mentioning %q", err, tt.want)
			}
		})
	}
}

func TestAllTagsManagedKeysWin(t *testing.T) {
	s := LaunchSpec{WorkerID: "w1", Name: "lab-1", Environment: "prod", Tags: map[string]string{TagWorkerID: "spoof", "team": "net"}}
	got := s.AllTags()
	want := map[string]string{TagManaged: "true", TagWorkerID: "w1", TagEnvironment: "prod", TagName: "lab-1", "team": "net"}
	if len(got) != len(want) {
		t.Fatalf("tags %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("tag %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestErrorClasses(t *testing.T) {
	cause := errors.New("wire")
	err := error(&Error{Kind: ErrCapacity, Op: "RunInstances", Code: "InsufficientInstanceCapacity", Message: "no metal", Err: cause})
	if !errors.Is(err, ErrCapacity) || !errors.Is(err, cause) || errors.Is(err, ErrNotFound) {
		t.Fatalf("classification lost: %v", err)
	}
	var ce *Error
	if !errors.As(err, &ce) || ce.Code != "InsufficientInstanceCapacity" {
		t.Fatal("errors.As")
	}
	if !strings.Contains(err.Error(), "no metal") {
		t.Fatalf("message lost: %v", err)
	}
}

func TestInstanceCMLURL(t *testing.T) {
	tests := []struct {
		in   Instance
		want string
	}{
		{Instance{State: StateRunning, PublicIP: "1.2.3.4", PrivateIP: "10.0.0.1"}, "https://1.2.3.4"},
		{Instance{State: StateRunning, PrivateIP: "10.0.0.1"}, "https://10.0.0.1"},
		{Instance{State: StateStopped, PrivateIP: "10.0.0.1"}, ""},
		{Instance{State: StateRunning, PublicIP: "127.0.0.1", Tags: map[string]string{TagSandboxEndpoint: "http://127.0.0.1:4000"}}, "http://127.0.0.1:4000"},
	}
	for _, tt := range tests {
		if got := tt.in.CMLURL(); got != tt.want {
			t.Errorf("%+v: %q, want %q", tt.in, got, tt.want)
		}
	}
}
