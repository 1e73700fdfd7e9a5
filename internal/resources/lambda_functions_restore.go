package resources

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/killswitch/killswitch/internal/engine"
)

// LambdaFunctionsRestoreAPI is what the restore of functions calls, with
// the operator's credentials (see kinds_restore.go).
type LambdaFunctionsRestoreAPI interface {
	GetFunctionConcurrency(ctx context.Context, in *lambda.GetFunctionConcurrencyInput, optFns ...func(*lambda.Options)) (*lambda.GetFunctionConcurrencyOutput, error)
	PutFunctionConcurrency(ctx context.Context, in *lambda.PutFunctionConcurrencyInput, optFns ...func(*lambda.Options)) (*lambda.PutFunctionConcurrencyOutput, error)
	DeleteFunctionConcurrency(ctx context.Context, in *lambda.DeleteFunctionConcurrencyInput, optFns ...func(*lambda.Options)) (*lambda.DeleteFunctionConcurrencyOutput, error)
}

var _ engine.Restorer = (*LambdaFunctions)(nil)

// Restore gives each throttled function its concurrency back: the reserved
// number it had, or no reservation at all (DeleteFunctionConcurrency),
// which is not the same as any number.
func (k *LambdaFunctions) Restore(ctx context.Context, region string, items []engine.RestoreItem, dryRun bool) []engine.RestoreResult {
	api, ok := k.client(region).(LambdaFunctionsRestoreAPI)
	if !ok {
		return failAll(items, "", "this Lambda client cannot remove a reservation")
	}
	return restoreEach(ctx, items, func(ctx context.Context, it engine.RestoreItem) engine.RestoreResult {
		prior, err := decodePrior[FunctionConcurrencyPrior](it)
		switch {
		case err != nil:
			return engine.LeftAlone(it.ID, fmt.Sprintf("Lambda function %s in %s: %v", it.ID, region, err))
		case prior.Unknown:
			return engine.LeftAlone(it.ID, "its concurrency before the trip could not be read; set it by hand")
		}
		out, err := api.GetFunctionConcurrency(ctx, &lambda.GetFunctionConcurrencyInput{FunctionName: aws.String(it.ID)})
		var notFound *types.ResourceNotFoundException
		switch {
		case errors.As(err, &notFound):
			return engine.LeftAlone(it.ID, "not restorable: the function no longer exists")
		case err != nil:
			return engine.RestoreFailure(it.ID, "", fmt.Sprintf("reading the concurrency of Lambda function %s in %s: %v", it.ID, region, err))
		}
		now := out.ReservedConcurrentExecutions
		unreserved := prior.Unreserved || prior.Reserved == nil
		act := "remove the reservation (unreserved, as before)"
		if !unreserved {
			act = fmt.Sprintf("set reserved concurrency to %d", *prior.Reserved)
		}
		switch {
		case now == nil && unreserved, now != nil && !unreserved && *now == *prior.Reserved:
			return engine.AlreadyRestored(it.ID, prior.Describe()+" as before")
		case now == nil || *now != 0:
			return engine.LeftAlone(it.ID, fmt.Sprintf("changed since: %s now (before the trip: %s)",
				FunctionConcurrencyPrior{Reserved: now, Unreserved: now == nil}.Describe(), prior.Describe()))
		case dryRun:
			return engine.Restored(it.ID, act, true)
		}
		if unreserved {
			_, err = api.DeleteFunctionConcurrency(ctx, &lambda.DeleteFunctionConcurrencyInput{FunctionName: aws.String(it.ID)})
		} else {
			_, err = api.PutFunctionConcurrency(ctx, &lambda.PutFunctionConcurrencyInput{FunctionName: aws.String(it.ID), ReservedConcurrentExecutions: prior.Reserved})
		}
		if err != nil {
			return engine.RestoreFailure(it.ID, act, fmt.Sprintf("restoring the concurrency of Lambda function %s in %s: %v", it.ID, region, err))
		}
		return engine.Restored(it.ID, act, false)
	})
}
