// Package lambdarun runs the real killswitch bootstrap under the real AWS
// Lambda Runtime Interface Emulator (aws-lambda-rie, pinned in go.mod as a
// tool), so tests, benchmarks and the demo exercise the binary that ships,
// through the Lambda Runtime API, not a direct handler call.
//
// Process layout: Start runs the emulator in its own process group. The
// emulator starts bootstrap lazily, on the first invoke, in yet another
// process group of its own (the emulator's supervisor sets Setpgid), so
// Stop kills both groups. If the emulator dies on its own, bootstrap loses
// its Runtime API and exits.
package lambdarun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/killswitch/killswitch/tests/internal/proc"
)

// EmulatorPackage is the pinned emulator command (see the tool line in go.mod).
const EmulatorPackage = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// InvokePath is the emulator's invoke endpoint.
const InvokePath = "/2015-03-31/functions/function/invocations"

// RepoRoot finds the module root (the directory holding go.mod) from the
// current directory, through `go env GOMOD`.
func RepoRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("finding the module root (go env GOMOD): %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("finding the module root: not inside a Go module (run from the killswitch checkout)")
	}
	return filepath.Dir(gomod), nil
}

// BuildBootstrap compiles ./lambda for the host OS and architecture
// (CGO_ENABLED=0, -tags lambda.norpc, stripped like the deployed binary)
// into outDir/bootstrap and returns its path. repoRoot is the module root.
// Warm builds take a second or two thanks to Go's build cache; the first
// takes minutes (the ec2 SDK package is large). It leaves out the deployed
// build's -trimpath so that a caller compiled with CGO_ENABLED=0 (go run,
// go test) shares the compiled SDK packages with it.
func BuildBootstrap(ctx context.Context, repoRoot, outDir string) (string, error) {
	return goBuild(ctx, repoRoot, outDir, "bootstrap",
		[]string{"-tags", "lambda.norpc", "-ldflags=-s -w"}, "./lambda")
}

// BuildEmulator builds the pinned aws-lambda-rie into outDir and returns its
// path. It runs in repoRoot so go.mod pins the version.
func BuildEmulator(ctx context.Context, repoRoot, outDir string) (string, error) {
	return goBuild(ctx, repoRoot, outDir, "aws-lambda-rie", nil, EmulatorPackage)
}

// goBuild builds into a temporary name and renames it into place, so that
// two test binaries building into the same directory at once never see a
// half-written file, and a running copy is never overwritten in place.
func goBuild(ctx context.Context, repoRoot, outDir, name string, flags []string, pkg string) (string, error) {
	outDir, err := filepath.Abs(outDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", fmt.Errorf("building %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(outDir, "."+name+"-*")
	if err != nil {
		return "", fmt.Errorf("building %s: %w", name, err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())

	args := append([]string{"build", "-o", tmp.Name()}, flags...)
	args = append(args, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=", "GOARCH=")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building %s (go %s in %s): %w\n%s", name, strings.Join(args, " "), repoRoot, err, strings.TrimSpace(out.String()))
	}
	final := filepath.Join(outDir, name)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return "", fmt.Errorf("building %s: %w", name, err)
	}
	return final, nil
}

// Options say what to run.
type Options struct {
	Emulator, Bootstrap string
	// Env is the complete environment of the emulator, which hands it on to
	// bootstrap. The caller's own environment is NOT inherited, so a
	// developer's real AWS credentials or profile can never reach the kill
	// switch under test.
	Env []string
	// Stdout receives the emulator's and bootstrap's logs; nil discards them.
	Stdout io.Writer
}

// Function is one running emulator with its bootstrap.
type Function struct {
	// URL is the invoke URL (POST the event to it).
	URL string

	cmd      *exec.Cmd
	done     chan struct{}
	logs     *tailBuffer
	stopOnce sync.Once
	client   *http.Client
}

// Start runs the emulator on free loopback ports for both its invoke
// address and its Runtime API, and waits until it accepts connections.
// Bootstrap itself starts on the first invoke.
func Start(ctx context.Context, o Options) (*Function, error) {
	for _, p := range []string{o.Emulator, o.Bootstrap} {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("starting the Lambda emulator: %w", err)
		}
	}
	invokePort, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := proc.FreePort()
	if err != nil {
		return nil, err
	}
	invokeAddr := "127.0.0.1:" + strconv.Itoa(invokePort)
	cmd := exec.Command(o.Emulator,
		"--runtime-interface-emulator-address", invokeAddr,
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		o.Bootstrap)
	cmd.Dir = filepath.Dir(o.Bootstrap)
	cmd.Env = append([]string{}, o.Env...)
	// Own process group, so Stop reaches everything; die with us if we are
	// killed outright.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logs := &tailBuffer{max: 64 << 10}
	var w io.Writer = logs
	if o.Stdout != nil {
		w = io.MultiWriter(logs, o.Stdout)
	}
	cmd.Stdout, cmd.Stderr = w, w
	// bootstrap writes to the same pipe; should it outlive the emulator,
	// do not wait for it to close the pipe.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the Lambda emulator %s: %w", o.Emulator, err)
	}
	f := &Function{
		URL:    "http://" + invokeAddr + InvokePath,
		cmd:    cmd,
		done:   make(chan struct{}),
		logs:   logs,
		client: &http.Client{},
	}
	go func() { _ = cmd.Wait(); close(f.done) }()

	ready := func() bool {
		conn, err := net.DialTimeout("tcp", invokeAddr, 200*time.Millisecond)
		if err != nil {
			return false
		}
		conn.Close()
		return true
	}
	if err := proc.WaitReady(ctx, "the Lambda emulator on "+invokeAddr, ready, f.done, logs, 20*time.Millisecond, 15*time.Second); err != nil {
		f.Stop()
		return nil, err
	}
	return f, nil
}

// HandlerError is a failed invoke: the handler returned an error or
// panicked. The emulator answers HTTP 200 with errorType and errorMessage.
type HandlerError struct {
	Type, Message string
	Raw           []byte // the response body
}

func (e *HandlerError) Error() string {
	return fmt.Sprintf("Lambda handler failed: %s: %s", e.Type, e.Message)
}

// Invoke sends one event to the function, as Lambda's synchronous Invoke
// does, and returns the handler's JSON result. A handler error comes back
// as a *HandlerError; a timeout or emulator failure as another error.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.URL, bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		select {
		case <-f.done:
			return nil, fmt.Errorf("invoking the function: the emulator has exited: %w; logs:\n%s", err, f.logs.String())
		default:
		}
		return nil, fmt.Errorf("invoking the function: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("reading the invoke response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("invoking the function: HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if bytes.HasPrefix(body, []byte("Task timed out")) {
		return nil, fmt.Errorf("invoking the function: %s", body)
	}
	var fail struct {
		Type    *string `json:"errorType"`
		Message *string `json:"errorMessage"`
	}
	if json.Unmarshal(body, &fail) == nil && (fail.Type != nil || fail.Message != nil) {
		he := &HandlerError{Raw: body}
		if fail.Type != nil {
			he.Type = *fail.Type
		}
		if fail.Message != nil {
			he.Message = *fail.Message
		}
		return nil, he
	}
	return body, nil
}

// Logs returns the last 64 KiB of the emulator's and bootstrap's output.
func (f *Function) Logs() string { return f.logs.String() }

// EmulatorPID is the emulator's process ID.
func (f *Function) EmulatorPID() int { return f.cmd.Process.Pid }

// BootstrapPID finds bootstrap, the emulator's child. The emulator starts
// it lazily on the first invoke, so before that this fails.
func (f *Function) BootstrapPID() (int, error) {
	pids := childrenOf(f.cmd.Process.Pid)
	for _, pid := range pids {
		if isBootstrap(pid) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no bootstrap process under the emulator (pid %d); the emulator starts it on the first invoke", f.cmd.Process.Pid)
}

// Stop kills (SIGKILL) bootstrap's and the emulator's process groups and
// waits for the emulator to exit. It is safe to call more than once, and on a nil Function.
func (f *Function) Stop() {
	if f == nil || f.cmd == nil || f.cmd.Process == nil {
		return
	}
	f.stopOnce.Do(func() {
		emu := f.cmd.Process.Pid
		// Find the children first: once the emulator is gone they are
		// reparented and no longer recognisable as its children. A graceful
		// SIGTERM buys nothing here and costs the emulator 1.5 s, so kill.
		children := childrenOf(emu)
		for _, pid := range children {
			// Each child leads its own group (Setpgid in the emulator).
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		_ = syscall.Kill(-emu, syscall.SIGKILL)
		<-f.done
	})
}

// PeakRSS is a process's peak resident set size (VmHWM), in KiB.
func PeakRSS(pid int) (int64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading peak RSS of %d: %w", pid, err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 0 {
				break
			}
			kib, err := strconv.ParseInt(fields[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("reading peak RSS of %d: %q: %w", pid, line, err)
			}
			return kib, nil
		}
	}
	return 0, fmt.Errorf("reading peak RSS of %d: no VmHWM line in /proc/%d/status", pid, pid)
}

// childrenOf scans /proc for processes whose parent is ppid.
func childrenOf(ppid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// "pid (comm) state ppid ...": comm may hold spaces or parentheses,
		// so read after the last ')'.
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 2 {
			continue
		}
		if parent, err := strconv.Atoi(fields[1]); err == nil && parent == ppid {
			out = append(out, pid)
		}
	}
	return out
}

func isBootstrap(pid int) bool {
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == "bootstrap" {
		return true
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(comm)) == "bootstrap"
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append([]byte(nil), b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
