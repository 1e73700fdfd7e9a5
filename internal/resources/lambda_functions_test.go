package resources_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/resources"
)

// fakeLambda is a hand-written LambdaFunctionsAPI: reserved concurrency by
// function name, absent when unreserved, as in Lambda and moto.
type fakeLambda struct {
	mu       sync.Mutex
	names    []string
	reserved map[string]int32
	getErr   map[string]error
	putErr   map[string]error
	puts     []string
	// onPut runs at the start of every put, outside the lock, so that
	// calls can overlap in it.
	onPut func()
}

var _ resources.LambdaFunctionsAPI = (*fakeLambda)(nil)

func newFakeLambda(names ...string) *fakeLambda {
	return &fakeLambda{names: names, reserved: map[string]int32{}, getErr: map[string]error{}, putErr: map[string]error{}}
}

func (f *fakeLambda) ListFunctions(_ context.Context, in *lambda.ListFunctionsInput, _ ...func(*lambda.Options)) (*lambda.ListFunctionsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names, next := cpage(f.names, in.Marker, 3)
	out := &lambda.ListFunctionsOutput{NextMarker: next}
	for _, n := range names {
		out.Functions = append(out.Functions, types.FunctionConfiguration{FunctionName: aws.String(n), State: types.StateActive})
	}
	return out, nil
}

func (f *fakeLambda) GetFunctionConcurrency(_ context.Context, in *lambda.GetFunctionConcurrencyInput, _ ...func(*lambda.Options)) (*lambda.GetFunctionConcurrencyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.FunctionName)
	if err := f.getErr[name]; err != nil {
		return nil, err
	}
	out := &lambda.GetFunctionConcurrencyOutput{}
	if n, ok := f.reserved[name]; ok {
		out.ReservedConcurrentExecutions = aws.Int32(n)
	}
	return out, nil
}

func (f *fakeLambda) PutFunctionConcurrency(_ context.Context, in *lambda.PutFunctionConcurrencyInput, _ ...func(*lambda.Options)) (*lambda.PutFunctionConcurrencyOutput, error) {
	if f.onPut != nil {
		f.onPut()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	name := aws.ToString(in.FunctionName)
	f.puts = append(f.puts, name)
	if err := f.putErr[name]; err != nil {
		return nil, err
	}
	f.reserved[name] = aws.ToInt32(in.ReservedConcurrentExecutions)
	return &lambda.PutFunctionConcurrencyOutput{ReservedConcurrentExecutions: in.ReservedConcurrentExecutions}, nil
}

func lambdaKind(f *fakeLambda, o resources.LambdaFunctionOptions) *resources.LambdaFunctions {
	return resources.NewLambdaFunctions(func(string) resources.LambdaFunctionsAPI { return f }, o)
}

func TestLambdaFunctionsThrottle(t *testing.T) {
	t.Parallel()
	f := newFakeLambda("killswitch", "mining", "reserved", "already-zero", "owner-fn", "vanished", "denied")
	f.reserved["reserved"] = 25
	f.reserved["already-zero"] = 0
	f.putErr["vanished"] = &types.ResourceNotFoundException{Message: aws.String("Function not found")}
	f.putErr["denied"] = apiErr("AccessDeniedException")

	k := lambdaKind(f, resources.LambdaFunctionOptions{SelfName: "killswitch", SelfRegion: computeRegion})
	kr := sweepKind(t, k, engine.Policy{Exempt: map[string]string{"owner-fn": "KILLSWITCH_EXEMPT_NAMES"}})
	if kr.Error != "" {
		t.Fatalf("kind error: %s", kr.Error)
	}
	got := outcomesByID(kr)
	o := wantOutcome(t, got, "mining", engine.StatusDone, resources.VerbThrottleFunction, "")
	if o.Prior != (resources.FunctionConcurrencyPrior{Unreserved: true}) || o.Prior.Describe() != "unreserved" {
		t.Errorf("mining prior = %#v, want unreserved", o.Prior)
	}
	o = wantOutcome(t, got, "reserved", engine.StatusDone, resources.VerbThrottleFunction, "")
	if p, ok := o.Prior.(resources.FunctionConcurrencyPrior); !ok || p.Unreserved || aws.ToInt32(p.Reserved) != 25 {
		t.Errorf("reserved prior = %#v, want 25", o.Prior)
	}
	// Unreserved and reserved must stay apart in the JSON the restore reads.
	for id, want := range map[string]string{"mining": `{"unreserved":true}`, "reserved": `{"reservedConcurrentExecutions":25}`} {
		if b, _ := json.Marshal(got[id].Prior); string(b) != want {
			t.Errorf("%s prior JSON = %s, want %s", id, b, want)
		}
	}
	wantOutcome(t, got, "vanished", engine.StatusGone, resources.VerbThrottleFunction, "")
	wantOutcome(t, got, "denied", engine.StatusFailed, resources.VerbThrottleFunction, "AccessDeniedException")
	for _, id := range []string{"killswitch", "already-zero", "owner-fn"} {
		if _, ok := got[id]; ok {
			t.Errorf("%s was acted on", id)
		}
	}
	refused := map[string]bool{}
	for _, r := range kr.Refused {
		refused[r.ID] = true
	}
	if !refused["killswitch"] || !refused["owner-fn"] {
		t.Errorf("refused = %+v, want the kill switch's own function and the exempt one", kr.Refused)
	}
	for _, name := range f.puts {
		if name == "killswitch" || name == "owner-fn" {
			t.Errorf("PutFunctionConcurrency on %s", name)
		}
	}

	delete(f.putErr, "denied")
	delete(f.putErr, "vanished")
	f.names = []string{"killswitch", "mining", "reserved", "already-zero", "owner-fn", "denied"}
	sweepKind(t, k, engine.Policy{Exempt: map[string]string{"owner-fn": "x"}})
	before := len(f.puts)
	if kr := sweepKind(t, k, engine.Policy{Exempt: map[string]string{"owner-fn": "x"}}); len(kr.Outcomes) != 0 || len(f.puts) != before {
		t.Errorf("settled sweep acted on %d and made %d more puts", len(kr.Outcomes), len(f.puts)-before)
	}
}

func TestLambdaFunctionsSelfOnlyInItsRegion(t *testing.T) {
	t.Parallel()
	f := newFakeLambda("killswitch")
	kr := sweepKind(t, lambdaKind(f, resources.LambdaFunctionOptions{SelfName: "killswitch", SelfRegion: "us-east-1"}), engine.Policy{})
	// Same name, other region: not the kill switch, so it is throttled.
	wantOutcome(t, outcomesByID(kr), "killswitch", engine.StatusDone, resources.VerbThrottleFunction, "")

	f = newFakeLambda("killswitch")
	kr = sweepKind(t, lambdaKind(f, resources.LambdaFunctionOptions{SelfName: "killswitch"}), engine.Policy{})
	if len(kr.Outcomes) != 0 || len(f.puts) != 0 {
		t.Errorf("with no region known, the own name must be spared everywhere: %+v", kr.Outcomes)
	}
}

func TestLambdaFunctionsLookupFailureFailsClosed(t *testing.T) {
	t.Parallel()
	f := newFakeLambda("mining", "ok")
	f.getErr["mining"] = apiErr("TooManyRequestsException")
	kr := sweepKind(t, lambdaKind(f, resources.LambdaFunctionOptions{}), engine.Policy{})
	if kr.Error == "" {
		t.Error("the failed lookup is not reported")
	}
	o := wantOutcome(t, outcomesByID(kr), "mining", engine.StatusDone, resources.VerbThrottleFunction, "")
	if o.Prior != (resources.FunctionConcurrencyPrior{Unknown: true}) {
		t.Errorf("prior = %#v, want unknown", o.Prior)
	}
	wantOutcome(t, outcomesByID(kr), "ok", engine.StatusDone, resources.VerbThrottleFunction, "")
}

// TestLambdaFunctionsBoundsCalls holds every put until the kind has as many
// in flight as it ever will, and checks that bound.
func TestLambdaFunctionsBoundsCalls(t *testing.T) {
	t.Parallel()
	var names []string
	for i := range 30 {
		names = append(names, fmt.Sprintf("fn-%02d", i))
	}
	f := newFakeLambda(names...)
	var mu sync.Mutex
	inFlight, peak := 0, 0
	arrived := make(chan struct{}, len(names))
	release := make(chan struct{})
	f.onPut = func() {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		arrived <- struct{}{}
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
	}
	done := make(chan engine.KindReport)
	go func() { done <- sweepKind(t, lambdaKind(f, resources.LambdaFunctionOptions{}), engine.Policy{}) }()
	const bound = 8
	for range bound {
		<-arrived
	}
	close(release)
	kr := <-done
	if peak != bound {
		t.Errorf("peak in-flight puts = %d, want %d", peak, bound)
	}
	if kr.Counts[resources.VerbThrottleFunction.Past] != len(names) {
		t.Errorf("counts = %v, want %d throttled", kr.Counts, len(names))
	}
}
