// Package motoserver gives tests a DynamoDB/EC2/CloudWatch-compatible
// endpoint backed by a real moto server on 127.0.0.1.
//
// If MOTO_ENDPOINT is set (make test and CI start one shared server), that
// endpoint is used. Otherwise the first caller in the test binary starts
// `moto_server` on a free port and later callers share it; it is stopped
// when the process exits via Stop (call it from TestMain) or when its
// parent dies. A missing moto_server is a test failure that says how to
// install it, never a skip.
package motoserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Region is the region tests use against moto.
const Region = "us-east-1"

var (
	mu       sync.Mutex
	endpoint string
	cmd      *exec.Cmd
)

// Endpoint returns the URL of a running moto server, starting one if needed.
func Endpoint(tb testing.TB) string {
	tb.Helper()
	ep, err := ensure()
	if err != nil {
		tb.Fatalf("moto server: %v", err)
	}
	return ep
}

// Config returns an AWS config pointing every service at the moto server
// with static dummy credentials, so no real account can ever be reached.
func Config(tb testing.TB) aws.Config {
	tb.Helper()
	ep := Endpoint(tb)
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("testing", "testing", ""),
		BaseEndpoint: aws.String(ep),
	}
}

// Stop stops a server this process started. Safe to call when none was.
func Stop() {
	mu.Lock()
	defer mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		cmd = nil
		endpoint = ""
	}
}

func ensure() (string, error) {
	mu.Lock()
	defer mu.Unlock()
	if endpoint != "" {
		return endpoint, nil
	}
	if ep := os.Getenv("MOTO_ENDPOINT"); ep != "" {
		if err := waitReady(ep, 30*time.Second); err != nil {
			return "", fmt.Errorf("MOTO_ENDPOINT=%s does not answer: %w", ep, err)
		}
		endpoint = ep
		return ep, nil
	}
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		return "", errors.New("moto_server not found on PATH: install it with `pip install 'moto[server]==5.2.1'` (make test does this in .venv) or set MOTO_ENDPOINT")
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	c := exec.Command(bin, "-H", "127.0.0.1", "-p", fmt.Sprint(port))
	c.Stdout, c.Stderr = nil, nil
	if err := c.Start(); err != nil {
		return "", fmt.Errorf("start moto_server: %w", err)
	}
	ep := fmt.Sprintf("http://127.0.0.1:%d", port)
	if err := waitReady(ep, 60*time.Second); err != nil {
		_ = c.Process.Kill()
		return "", fmt.Errorf("moto_server on %s: %w", ep, err)
	}
	cmd, endpoint = c, ep
	return ep, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func waitReady(ep string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ep+"/moto-api/", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
