package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	orgtypes "github.com/aws/aws-sdk-go-v2/service/organizations/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/aws/smithy-go"

	"github.com/killswitch/killswitch/internal/app"
	"github.com/killswitch/killswitch/internal/engine"
)

// fakeSTS lets every role be assumed except those in deny, and hands out
// credentials that name the account, so the test sees which account each
// run reached.
type fakeSTS struct {
	deny map[string]bool
	mu   sync.Mutex
	arns []string
}

func (f *fakeSTS) AssumeRole(_ context.Context, in *sts.AssumeRoleInput, _ ...func(*sts.Options)) (*sts.AssumeRoleOutput, error) {
	f.mu.Lock()
	f.arns = append(f.arns, aws.ToString(in.RoleArn))
	f.mu.Unlock()
	account := strings.Split(aws.ToString(in.RoleArn), ":")[4]
	if f.deny[account] {
		return nil, &smithy.GenericAPIError{Code: "AccessDenied", Message: "not authorized to perform sts:AssumeRole on " + aws.ToString(in.RoleArn)}
	}
	return &sts.AssumeRoleOutput{Credentials: &ststypes.Credentials{
		AccessKeyId: aws.String("AK-" + account), SecretAccessKey: aws.String("s"), SessionToken: aws.String("t"),
		Expiration: aws.Time(time.Now().Add(time.Hour)),
	}}, nil
}

func orgRunFor(f *fakeSTS, accounts ...orgAccount) *orgRun {
	return &orgRun{
		base:      aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("AK-caller", "s", "")},
		partition: "aws", role: DefaultOrgRole, accounts: accounts, assume: f, concurrency: 2,
	}
}

// A member whose role cannot be assumed is reported with its reason, the
// other accounts still run with their own credentials, and the run exits 1
// even though another account found something.
func TestOrgRunReportsAnAccountThatCannotBeEnteredAndGoesOn(t *testing.T) {
	f := &fakeSTS{deny: map[string]bool{"222222222222": true}}
	run := orgRunFor(f,
		orgAccount{ID: "111111111111", Name: "mgmt", Management: true},
		orgAccount{ID: "222222222222", Name: "locked"},
		orgAccount{ID: "333333333333", Name: "open"},
	)
	var mu sync.Mutex
	keys := map[string]string{}
	var stdout, stderr bytes.Buffer
	code := runAccounts(context.Background(), Env{Stdout: &stdout, Stderr: &stderr}, &common{}, "scan", run,
		func(ctx context.Context, _ *orgRun, acct orgAccount, cfg aws.Config, w io.Writer, _ ...app.Option) outcome {
			creds, err := cfg.Credentials.Retrieve(ctx)
			if err != nil {
				t.Errorf("account %s: entered with credentials that do not retrieve: %v", acct.ID, err)
			}
			mu.Lock()
			keys[acct.ID] = creds.AccessKeyID
			mu.Unlock()
			fmt.Fprintf(w, "tables of %s\n", acct.ID)
			rep := &engine.Report{}
			rep.Totals.Changed = 2
			return outcome{code: ExitFound, rep: rep, summary: "2 found"}
		})

	if code != ExitFailed {
		t.Errorf("exit %d, want %d: an account failed", code, ExitFailed)
	}
	want := map[string]string{"111111111111": "AK-caller", "333333333333": "AK-333333333333"}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Errorf("accounts run with access keys %v, want %v (the management account with the caller's own, the locked one not at all)", keys, want)
	}
	for _, arn := range f.arns {
		if strings.Contains(arn, "111111111111") {
			t.Errorf("assumed a role in the caller's own account: %s", arn)
		}
	}
	out := stdout.String()
	reason := "cannot assume arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
	for _, s := range []string{
		"=== Account 111111111111 (mgmt) [management account, own credentials]\ntables of 111111111111\n",
		"=== Account 222222222222 (locked) [member]\n  FAILED: " + reason,
		"AccessDenied",
		"=== Account 333333333333 (open) [member]\ntables of 333333333333\n",
		"Organization: 3 account(s), 1 failed (222222222222); found 4 resource(s) the switch would contain, 0 left alone.",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("stdout lacks %q:\n%s", s, out)
		}
	}
	errs := stderr.String()
	for _, s := range []string{
		"  account 111111111111 (mgmt): 2 found\n",
		"  account 222222222222 (locked): FAILED: " + reason,
		"  account 333333333333 (open): 2 found\n",
		"killswitch scan: account 222222222222 (locked): " + reason,
	} {
		if !strings.Contains(errs, s) {
			t.Errorf("stderr lacks %q:\n%s", s, errs)
		}
	}
}

// With every account entered, the exit codes are single-account mode's:
// 3 when anything was found anywhere, 0 when nothing was.
func TestOrgRunExitCodes(t *testing.T) {
	for _, tc := range []struct {
		codes []int
		want  int
	}{{[]int{ExitOK, ExitOK}, ExitOK}, {[]int{ExitOK, ExitFound}, ExitFound}, {[]int{ExitFound, ExitFailed}, ExitFailed}} {
		run := orgRunFor(&fakeSTS{}, orgAccount{ID: "111111111111", Management: true}, orgAccount{ID: "222222222222"})
		got := runAccounts(context.Background(), Env{Stdout: io.Discard, Stderr: io.Discard}, &common{}, "scan", run,
			func(_ context.Context, _ *orgRun, acct orgAccount, _ aws.Config, _ io.Writer, _ ...app.Option) outcome {
				if acct.Management {
					return outcome{code: tc.codes[0]}
				}
				return outcome{code: tc.codes[1]}
			})
		if got != tc.want {
			t.Errorf("accounts exiting %v: exit %d, want %d", tc.codes, got, tc.want)
		}
	}
}

type fakeOrg struct{ pages [][]orgtypes.Account }

func (f fakeOrg) ListAccounts(_ context.Context, in *organizations.ListAccountsInput, _ ...func(*organizations.Options)) (*organizations.ListAccountsOutput, error) {
	i := 0
	if in.NextToken != nil {
		fmt.Sscan(*in.NextToken, &i)
	}
	out := &organizations.ListAccountsOutput{Accounts: f.pages[i]}
	if i+1 < len(f.pages) {
		out.NextToken = aws.String(fmt.Sprint(i + 1))
	}
	return out, nil
}

type fakeCaller struct{ account, arn string }

func (f fakeCaller) GetCallerIdentity(context.Context, *sts.GetCallerIdentityInput, ...func(*sts.Options)) (*sts.GetCallerIdentityOutput, error) {
	return &sts.GetCallerIdentityOutput{Account: aws.String(f.account), Arn: aws.String(f.arn)}, nil
}

// The accounts are every page's ACTIVE ones (by State, or by the older
// Status when State is unset), the caller's own first and marked as the
// management account, and the partition comes from the caller's ARN.
func TestOrgAccountsListsActiveAccountsAndMarksTheCaller(t *testing.T) {
	org := fakeOrg{pages: [][]orgtypes.Account{
		{{Id: aws.String("333333333333"), Name: aws.String("c"), State: orgtypes.AccountStateActive},
			{Id: aws.String("444444444444"), Name: aws.String("gone"), State: orgtypes.AccountStateSuspended, Status: orgtypes.AccountStatusActive}},
		{{Id: aws.String("111111111111"), Name: aws.String("mgmt"), Status: orgtypes.AccountStatusActive},
			{Id: aws.String("222222222222"), Name: aws.String("b"), Status: orgtypes.AccountStatusActive}},
	}}
	got, partition, err := orgAccounts(context.Background(), org, fakeCaller{"111111111111", "arn:aws-us-gov:iam::111111111111:user/op"})
	if err != nil {
		t.Fatal(err)
	}
	want := []orgAccount{{"111111111111", "mgmt", true}, {"222222222222", "b", false}, {"333333333333", "c", false}}
	if fmt.Sprint(got) != fmt.Sprint(want) || partition != "aws-us-gov" {
		t.Errorf("got %v in %q, want %v in aws-us-gov", got, partition, want)
	}
}
