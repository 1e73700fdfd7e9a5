package resources

import (
	"fmt"

	"github.com/killswitch/killswitch/internal/engine"
)

// idError is one ID's failure in a batch call that answers per ID
// (DeleteFleets, CancelSpotFleetRequests).
type idError struct{ code, message string }

// perIDOutcomes turns a per-ID answer into exactly one outcome per
// decision. doing names the change for messages ("deleting EC2 Fleet");
// goneCodes maps the error codes that mean the resource launches nothing
// more to the note that says why. An ID the answer does not mention is
// not confirmed: failed, so the next run tries again.
func perIDOutcomes(batch []engine.Decision, region, doing string, callErr error,
	done map[string]bool, failed map[string]*idError, goneCodes map[string]string) []engine.Outcome {
	out := make([]engine.Outcome, len(batch))
	for i, d := range batch {
		id := d.Resource.ID
		o := engine.Outcome{ID: id, Verb: d.Verb, Prior: d.Resource.Prior}
		fe, isFailed := failed[id]
		switch {
		case callErr != nil:
			o.Status, o.Code = engine.StatusFailed, errorCode(callErr)
			o.Message = fmt.Sprintf("%s %s in %s: %v", doing, id, region, callErr)
		case done[id]:
			o.Status = engine.StatusDone
		case isFailed && fe != nil && goneCodes[fe.code] != "":
			o.Status, o.Note = engine.StatusGone, goneCodes[fe.code]
		case isFailed:
			o.Status, o.Code = engine.StatusFailed, "unexpectedError"
			o.Message = fmt.Sprintf("%s %s in %s failed", doing, id, region)
			if fe != nil {
				o.Code = fe.code
				o.Message += ": " + fe.message
			}
		default:
			o.Status, o.Code = engine.StatusFailed, "NotConfirmed"
			o.Message = fmt.Sprintf("EC2 did not confirm %s %s in %s; the next run retries it", doing, id, region)
		}
		out[i] = o
	}
	return out
}
