package lambdarun

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The real bootstrap with invalid settings needs no AWS at all: every
// invoke fails, which exercises the whole emulator path.
func TestRealBootstrapUnderEmulator(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	root, err := RepoRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "build", "lambdarun-test")
	emu, err := BuildEmulator(ctx, root, dir)
	if err != nil {
		t.Fatal(err)
	}
	boot, err := BuildBootstrap(ctx, root, dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Start(ctx, Options{Emulator: emu, Bootstrap: boot,
		Env: []string{"AWS_REGION=us-east-1", "KILLSWITCH_ACTION=bogus"}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Stop()

	if _, err := f.BootstrapPID(); err == nil {
		t.Error("found a bootstrap before the first invoke; the emulator starts it lazily")
	}
	_, err = f.Invoke(ctx, []byte(`{"killswitch":"trip"}`))
	var he *HandlerError
	if !errors.As(err, &he) || !strings.Contains(he.Message, "KILLSWITCH_ACTION") || he.Type == "" {
		t.Fatalf("invoke error %v, want a HandlerError naming KILLSWITCH_ACTION", err)
	}
	pid, err := f.BootstrapPID()
	if err != nil {
		t.Fatal(err)
	}
	if kib, err := PeakRSS(pid); err != nil || kib <= 0 {
		t.Errorf("PeakRSS(%d) = %d, %v", pid, kib, err)
	}
	emuPID := f.EmulatorPID()
	f.Stop()
	f.Stop() // idempotent
	for _, p := range []int{pid, emuPID} {
		if alive(p) {
			t.Errorf("process %d still alive after Stop", p)
		}
	}
}

// alive reports whether pid still runs; a zombie awaiting its reaper (the
// orphaned bootstrap goes to init) counts as dead.
func alive(pid int) bool {
	for range 20 {
		if syscall.Kill(pid, 0) != nil {
			return false
		}
		if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if s := string(raw); strings.Contains(s[strings.LastIndexByte(s, ')')+1:], " Z ") {
				return false
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}
