// Package moto starts and drives a real moto_server, the standard AWS
// emulator, for integration tests, the benchmarks and the local demo.
//
// Start puts a small loopback reverse proxy in front of moto_server, and
// Server.URL is the proxy's: moto 5.2.1 lacks IAM's service-specific
// credentials API (moto/iam/responses.py has no
// ListServiceSpecificCredentials; it answers HTTP 500), which the "IAM
// service credentials" kind calls on every sweep. The proxy answers only
// those IAM actions (gaps.go) and passes everything else through
// unchanged. It is not an emulator: it keeps no state, and its answers (an
// empty list; NoSuchEntity for any credential) are the true ones for an
// account in which nothing can create such credentials, since moto
// cannot. The kind's behaviour with credentials is covered by fakes in
// internal/resources.
package moto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/killswitch/killswitch/internal/awsconfig"
	"github.com/killswitch/killswitch/tests/internal/proc"
)

// Region is the home region the tests and the demo deploy to.
const Region = "us-east-1"

// Account is the account moto answers for.
const Account = "123456789012"

// Server is one running moto_server on a loopback port, behind the gap
// proxy.
type Server struct {
	// URL is the gap proxy's; every client (SDK configs, child processes,
	// faultproxy targets, resets) goes through it.
	URL   string
	cmd   *exec.Cmd
	done  chan struct{}
	proxy *http.Server
}

// Binary finds moto_server on PATH or in the image's pyenv shims, which a
// bare PATH (CI, make) does not include.
func Binary() (string, error) {
	if p, err := exec.LookPath("moto_server"); err == nil {
		return p, nil
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".pyenv", "shims", "moto_server")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("moto_server not found on PATH or in ~/.pyenv/shims: it ships on this machine image (moto 5); it cannot be installed from the registries here")
}

// Start runs moto_server on a free loopback port, waits until it answers,
// and serves the gap proxy in front of it on another.
func Start(ctx context.Context) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	port, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting moto_server: %w", err)
	}
	direct := fmt.Sprintf("http://127.0.0.1:%d", port)
	s := &Server{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(s.done) }()

	ready := func() bool {
		resp, err := http.Get(direct + "/moto-api/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}
	if err := proc.WaitReady(ctx, "moto_server on "+direct, ready, s.done, &logs, 100*time.Millisecond, 30*time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	upstream, err := url.Parse(direct)
	if err != nil {
		s.Stop()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		s.Stop()
		return nil, fmt.Errorf("moto gap proxy: listening: %w", err)
	}
	s.proxy = &http.Server{Handler: newGapProxy(upstream), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.proxy.Serve(ln) }()
	s.URL = "http://" + ln.Addr().String()
	return s, nil
}

// Stop ends the gap proxy, moto_server and everything it started. Its
// state lives only in memory, so there is nothing to shut down gracefully.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	if s.proxy != nil {
		_ = s.proxy.Close()
	}
	if s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

// Reset wipes every service's state.
func (s *Server) Reset() error { return Reset(s.URL) }

// Reset wipes the state of the moto_server at url.
func Reset(url string) error {
	resp, err := http.Post(url+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return fmt.Errorf("resetting moto: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("resetting moto: HTTP %d", resp.StatusCode)
	}
	return nil
}

// Config is an aws.Config that reaches the emulator at endpoint through the
// SDK's own base-endpoint setting, tuned like the Lambda's.
func Config(ctx context.Context, endpoint string, o awsconfig.Options) (aws.Config, error) {
	return awsconfig.Load(ctx, o,
		config.WithRegion(Region),
		config.WithBaseEndpoint(endpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
	)
}

// Env is the environment a child process (the real bootstrap) needs to
// reach the emulator at endpoint.
func Env(endpoint string) []string {
	return []string{
		"AWS_ENDPOINT_URL=" + endpoint,
		"AWS_REGION=" + Region,
		"AWS_DEFAULT_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}
