package tests

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/cli"
	"github.com/killswitch/killswitch/internal/disarmproof"
	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/internal/trigger"
	"github.com/killswitch/killswitch/tests/internal/attack"
)

// createDisarmKey creates the stack's disarm key in the account cfg
// reaches: an HMAC_256 key for GENERATE_VERIFY_MAC with its alias. moto
// serves GenerateMac and VerifyMac for HMAC keys but does not evaluate key
// policies, so who may make a proof is held by the key policy's tests
// (internal/guard) and the template test (infra/stack), not here.
func createDisarmKey(t *testing.T, cfg aws.Config) string {
	t.Helper()
	ctx := context.Background()
	c := kms.NewFromConfig(cfg)
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecHmac256, KeyUsage: kmstypes.KeyUsageTypeGenerateVerifyMac,
		Description: aws.String("test: the killswitch disarm key")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(guard.DisarmKeyAlias), TargetKeyId: out.KeyMetadata.KeyId}); err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.KeyMetadata.Arn)
}

// withDisarmKey gives the rig's switch its disarm key.
func (r *rig) withDisarmKey() string {
	r.t.Helper()
	arn := createDisarmKey(r.t, r.plain)
	r.settings.DisarmKeyARN = arn
	return arn
}

// disarm disarms as `killswitch disarm` does: the proof made with the
// operator's credentials (GenerateMac), then the handler in-process.
func (r *rig) disarm(reason string) (bool, error) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := slog.New(slog.NewJSONHandler(testWriter{r.t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a := app.New(r.cfg, r.settings, log, app.WithFunctionName("killswitch"))
	return cli.Disarm(ctx, a, kms.NewFromConfig(r.plain), reason)
}

// An attacker who invokes the function with a disarm, plain or with a
// forged MAC, leaves the switch tripped: the latch is unchanged, the owner
// is told what was refused and why, and the next scheduled run sweeps
// again and contains what the attacker started meanwhile. The owner's
// disarm, with a proof from the disarm key, then disarms.
func TestForgedDisarmLeavesTheSwitchTripped(t *testing.T) {
	ctx := context.Background()
	plan := attack.Plan{Regions: []string{"us-east-1"}, Instances: 3, PerLaunch: 3}
	r := newRig(t, plan, map[string]string{settings.EnvLatchParameter: latchParameter,
		settings.EnvMaxRunningInstances: "1000", settings.EnvMaxVCPUs: "100000", settings.EnvMaxGPUs: "1000",
		settings.EnvMaxHourlyBurnUSD: "100000", settings.EnvMaxRegionsInUse: "64"})
	armLatch(t, r, true)
	key := r.withDisarmKey()

	if res, err := r.invoke(budgetActual); err != nil || !res.Tripped {
		t.Fatalf("trip: %v, %+v", err, res)
	}
	r.notify.receive(t, 1)
	tripped := r.latch()
	if !tripped.Tripped {
		t.Fatalf("latch after the trip = %+v", tripped)
	}

	// A MAC over the right message, made with a key that is not the
	// disarm key.
	account, err := disarmproof.AccountOfKey(key)
	if err != nil {
		t.Fatal(err)
	}
	issued := time.Now().UTC()
	h := hmac.New(sha256.New, []byte("the attacker's own secret"))
	h.Write(disarmproof.Message(account, tripped.Since, issued))
	forged, err := json.Marshal(map[string]any{"killswitch": "disarm", "reason": "all clear", "proof": map[string]string{
		"trip": disarmproof.Stamp(tripped.Since), "issuedAt": disarmproof.Stamp(issued.Truncate(time.Second)), "mac": disarmproof.EncodeMAC(h.Sum(nil)),
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, event, why string }{
		{"plain", `{"killswitch":"disarm","reason":"all clear"}`, "no proof"},
		{"forged MAC", string(forged), "MAC is invalid"},
	} {
		res, err := r.invokeEvent(tc.event)
		if err != nil || !strings.Contains(res.DisarmRefused, tc.why) {
			t.Fatalf("%s disarm: err %v, refused %q; want refused for %q", tc.name, err, res.DisarmRefused, tc.why)
		}
		msg := r.notify.receive(t, 1)[0]
		if !strings.Contains(msg.Subject, "DISARM REFUSED") || !strings.Contains(msg.Body, tc.why) || !strings.Contains(msg.Body, "killswitch disarm --region") {
			t.Errorf("%s disarm: notice %q\n%s", tc.name, msg.Subject, msg.Body)
		}
		if st := r.latch(); st != tripped {
			t.Errorf("%s disarm changed the latch: %+v, was %+v", tc.name, st, tripped)
		}
	}

	// The attacker starts more; the schedule still re-sweeps.
	if _, err := attack.Seed(ctx, r.plain, attack.Plan{Regions: []string{"eu-west-1"}, Instances: 2, PerLaunch: 2}); err != nil {
		t.Fatal(err)
	}
	res, err := r.invokeEvent(trigger.ScheduledEvent)
	if err != nil || res.Report == nil || !res.RelaunchCaught {
		t.Fatalf("scheduled run after the refused disarms: err %v, report %v, caught %v; want a re-sweep that caught the relaunch", err, res.Report != nil, res != nil && res.RelaunchCaught)
	}
	r.notify.receive(t, 1)

	// The owner's disarm, through the CLI's code path.
	if was, err := r.disarm("cleaned up"); err != nil || !was {
		t.Fatalf("owner's disarm: was tripped %v, %v", was, err)
	}
	if msg := r.notify.receive(t, 1)[0]; !strings.Contains(msg.Subject, "DISARMED") {
		t.Errorf("disarm notice %q", msg.Subject)
	}
	if st := r.latch(); st.Tripped || st.DisarmReason != "cleaned up" {
		t.Errorf("latch after the owner's disarm = %+v", st)
	}
}
