package resources

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// LambdaFunctionsAPI is the slice of the Lambda client that function
// containment uses; unit tests put a fake behind it.
type LambdaFunctionsAPI interface {
	lambda.ListFunctionsAPIClient
	GetFunctionConcurrency(ctx context.Context, in *lambda.GetFunctionConcurrencyInput, optFns ...func(*lambda.Options)) (*lambda.GetFunctionConcurrencyOutput, error)
	PutFunctionConcurrency(ctx context.Context, in *lambda.PutFunctionConcurrencyInput, optFns ...func(*lambda.Options)) (*lambda.PutFunctionConcurrencyOutput, error)
}

const attrSelf = "self" // "true" on the kill switch's own function

// VerbThrottleFunction sets a function's reserved concurrency to 0.
var VerbThrottleFunction = engine.Verb{Past: "throttled (reserved concurrency 0)", Plan: "throttle (reserved concurrency 0)",
	Note: "every invocation is refused until the reservation is set back; code and settings are kept"}

// FunctionConcurrencyPrior is a function's reserved concurrency before it
// was set to 0. Unreserved (no reservation at all) is recorded apart from
// a reservation, since a restore must delete the reservation rather than
// set a number; Unknown means the lookup failed and the function was
// throttled anyway.
type FunctionConcurrencyPrior struct {
	Reserved   *int32 `json:"reservedConcurrentExecutions,omitempty"`
	Unreserved bool   `json:"unreserved,omitempty"`
	Unknown    bool   `json:"unknown,omitempty"`
}

func (p FunctionConcurrencyPrior) Describe() string {
	switch {
	case p.Unknown:
		return "reserved concurrency unknown"
	case p.Unreserved || p.Reserved == nil:
		return "unreserved"
	}
	return fmt.Sprintf("reserved concurrency %d", *p.Reserved)
}

// LambdaFunctionOptions name the function the kill switch itself runs as,
// which it must never throttle.
type LambdaFunctionOptions struct {
	// SelfName is the kill switch's own function name (Lambda sets
	// AWS_LAMBDA_FUNCTION_NAME); empty outside Lambda.
	SelfName string
	// SelfRegion is the region it runs in. Empty means every region, the
	// safe side when unknown.
	SelfRegion string
}

// LambdaFunctions throttles every other Lambda function to 0 concurrent
// executions: a function can mine, or launch compute on a schedule, and a
// reservation of 0 stops it without losing its code. ID is the name.
type LambdaFunctions struct {
	client func(region string) LambdaFunctionsAPI
	opts   LambdaFunctionOptions
}

var _ engine.Kind = (*LambdaFunctions)(nil)

func NewLambdaFunctions(client func(region string) LambdaFunctionsAPI, opts LambdaFunctionOptions) *LambdaFunctions {
	return &LambdaFunctions{client: client, opts: opts}
}

// lambdaClients builds one Lambda client per region.
func lambdaClients(cfg aws.Config) func(region string) LambdaFunctionsAPI {
	rc := newRegionalClients(func(region string) *lambda.Client {
		return lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.Region = region })
	})
	return func(region string) LambdaFunctionsAPI { return rc.get(region) }
}

func (*LambdaFunctions) Name() string { return "Lambda functions" }
func (*LambdaFunctions) Noun() string { return "function" }

// lookupsInFlight bounds the GetFunctionConcurrency calls one region makes
// at once: ListFunctions does not carry the reservation.
const lookupsInFlight = 8

// Find lists every function not already reserved at 0, with its
// reservation. A failed lookup fails closed: the function is still listed,
// its prior marked unknown, and the error returned.
func (k *LambdaFunctions) Find(ctx context.Context, region string) ([]engine.Resource, error) {
	api := k.client(region)
	var fns []types.FunctionConfiguration
	var listErr error
	pages := lambda.NewListFunctionsPaginator(api, &lambda.ListFunctionsInput{MaxItems: aws.Int32(50)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			listErr = fmt.Errorf("listing Lambda functions in %s: %w", region, err)
			break
		}
		fns = append(fns, page.Functions...)
	}

	results := make([]*engine.Resource, len(fns))
	lookupErrs := make([]error, len(fns))
	sem := make(chan struct{}, lookupsInFlight)
	var wg sync.WaitGroup
	for i, fn := range fns {
		name := aws.ToString(fn.FunctionName)
		r := engine.Resource{ID: name, State: string(fn.State), Attributes: map[string]string{}}
		if k.isSelf(name, region) {
			// Never looked up nor touched; listed so the report says why.
			r.Attributes[attrSelf] = "true"
			results[i] = &r
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A panic fails this function's lookup (so the listing is
			// reported incomplete), not the process.
			defer func() {
				if p := recover(); p != nil {
					r.Prior = FunctionConcurrencyPrior{Unknown: true}
					results[i], lookupErrs[i] = &r, fmt.Errorf("internal error reading Lambda function %s in %s: %v", name, region, p)
				}
			}()
			select {
			case sem <- struct{}{}:
				defer func() { <-sem }()
			case <-ctx.Done():
				r.Prior = FunctionConcurrencyPrior{Unknown: true}
				results[i], lookupErrs[i] = &r, ctx.Err()
				return
			}
			out, err := api.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(name)})
			var notFound *types.ResourceNotFoundException
			switch {
			case errors.As(err, &notFound):
				return // deleted since it was listed
			case err != nil:
				r.Prior = FunctionConcurrencyPrior{Unknown: true}
				lookupErrs[i] = fmt.Errorf("reading the reserved concurrency of Lambda function %s in %s: %w", name, region, err)
			case out.ReservedConcurrentExecutions == nil:
				r.Prior = FunctionConcurrencyPrior{Unreserved: true}
			case *out.ReservedConcurrentExecutions == 0:
				return // already throttled
			default:
				r.Prior = FunctionConcurrencyPrior{Reserved: out.ReservedConcurrentExecutions}
			}
			results[i] = &r
		}()
	}
	wg.Wait()

	var found []engine.Resource
	for _, r := range results {
		if r != nil {
			found = append(found, *r)
		}
	}
	return found, errors.Join(append([]error{listErr}, lookupErrs...)...)
}

func (k *LambdaFunctions) isSelf(name, region string) bool {
	return k.opts.SelfName != "" && name == k.opts.SelfName && (k.opts.SelfRegion == "" || region == k.opts.SelfRegion)
}

func (*LambdaFunctions) Decide(r engine.Resource) engine.Decision {
	if r.Attributes[attrSelf] == "true" {
		return engine.Leave(r, "the kill switch's own function")
	}
	return engine.Act(r, VerbThrottleFunction, "a function can run or launch compute")
}

// Contain sets each function's reserved concurrency to 0.
func (k *LambdaFunctions) Contain(ctx context.Context, region string, todo []engine.Decision) []engine.Outcome {
	api := k.client(region)
	return containEach(ctx, todo, func(ctx context.Context, d engine.Decision) engine.Outcome {
		if d.Resource.Attributes[attrSelf] == "true" {
			// Decide never acts on it; this guards the function that is
			// running this very code against any future change there.
			return engine.Outcome{ID: d.Resource.ID, Verb: d.Verb, Status: engine.StatusFailed, Code: "SelfProtected",
				Message: "refused to throttle the kill switch's own function"}
		}
		_, err := api.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{
			FunctionName: aws.String(d.Resource.ID), ReservedConcurrentExecutions: aws.Int32(0)})
		var notFound *types.ResourceNotFoundException
		switch {
		case err == nil:
			return outcomeDone(d)
		case errors.As(err, &notFound):
			return outcomeGone(d, "no longer exists")
		}
		return outcomeFailed(d, err, fmt.Sprintf("setting the reserved concurrency of Lambda function %s to 0 in %s", d.Resource.ID, region))
	})
}
