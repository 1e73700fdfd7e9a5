package cli

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/internal/settings"
)

type memLatch struct {
	mu    sync.Mutex
	st    latch.State
	saves int
}

func (m *memLatch) Load(context.Context) (latch.State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st, nil
}

func (m *memLatch) Save(_ context.Context, st latch.State) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st, m.saves = st, m.saves+1
	return nil
}

type deniedKMS struct{ calls int }

func (d *deniedKMS) GenerateMac(context.Context, *kms.GenerateMacInput, ...func(*kms.Options)) (*kms.GenerateMacOutput, error) {
	d.calls++
	return nil, &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "explicit deny in a resource-based policy"}
}

// Anyone but a break-glass principal or root is stopped at GenerateMac,
// told who can disarm, and the latch is not touched.
func TestDisarmDeniedSaysWhoMay(t *testing.T) {
	t.Parallel()
	store := &memLatch{st: latch.State{Tripped: true, Since: time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)}}
	for _, tc := range []struct {
		name, key, want string
	}{
		{"denied", "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", "only a break-glass principal or the root user can disarm"},
		{"no key", "", "no disarm key"},
	} {
		gen := &deniedKMS{}
		a := &app.App{Latch: store, Settings: settings.Settings{DisarmKeyARN: tc.key}}
		was, err := Disarm(context.Background(), a, gen, "why")
		if err == nil || !was || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Disarm = %v, %v; want an error saying %q", tc.name, was, err, tc.want)
		}
		if tc.key != "" && gen.calls != 1 {
			t.Errorf("%s: %d GenerateMac calls", tc.name, gen.calls)
		}
		if store.saves != 0 {
			t.Errorf("%s: latch saved %d time(s)", tc.name, store.saves)
		}
	}
}
