package engine

import (
	"context"
	"encoding/json"
)

// Kind is one kind of AWS resource the kill switch can contain. Each lives
// in its own file in package resources and is listed in its table. A kind
// speaks its own verbs ("stopped", "scaled to 0") and records the prior
// state of every change; the engine, the report and the notification carry
// both through without knowing them.
type Kind interface {
	// Name is plural and human, e.g. "EC2 instances".
	Name() string
	// Noun is one resource, e.g. "instance", for lines such as "3 instance(s)".
	Noun() string
	// Find lists what the kind would act on in one region; what is already
	// contained is left out, so a second run finds nothing new. On error it
	// returns what it listed before the failure, which the engine still
	// contains. Each Resource carries its prior state.
	Find(ctx context.Context, region string) ([]Resource, error)
	// Decide is pure: no AWS, no clock. It says what Contain would do.
	// Exemptions by ID are the engine's job, not the kind's.
	Decide(r Resource) Decision
	// Contain carries out one region's decisions (never a Leave). It
	// returns an Outcome per decision, failures included; a decision left
	// without one is reported as failed by the engine.
	Contain(ctx context.Context, region string, todo []Decision) []Outcome
}

// Global is implemented by kinds that are account-wide, not regional (IAM):
// the engine runs them once, one after the other in the table's order,
// alongside the regions and with a region's time budget, with region
// GlobalRegion, and reports them under that name, first.
type Global interface {
	Global() bool
}

// Verb is what a kind does to a resource, in the kind's own words.
type Verb struct {
	// Past is what the report says was done: "stopped", "scaled to 0".
	Past string `json:"past"`
	// Plan is the same in the infinitive, for dry runs: "stop", "scale to 0".
	Plan string `json:"plan"`
	// Note is an optional line for the owner about the result, e.g. "their
	// disks (EBS) are kept".
	Note string `json:"note,omitempty"`
}

// PriorState is a kind's record of a resource before a change: enough to
// undo it (an instance's state, an Auto Scaling group's sizes). The
// concrete type is the kind's own; it goes into the JSON report as is.
type PriorState interface {
	// Describe says it in a few words for people: "running", "min 1, max 4".
	Describe() string
}

// Resource is one thing a Kind found in a region.
type Resource struct {
	ID    string
	State string
	// Attributes are the kind's own facts from its describe call, read by
	// its Decide (for EC2: lifecycle, root device type, instance type).
	Attributes map[string]string
	// Prior is the resource's state as found, before any change.
	Prior PriorState
	// Parent names what launched the resource (its Auto Scaling group, its
	// fleet), read from data the attacker cannot forge. An exempt parent
	// exempts its children: the owner's group keeps its instances.
	Parent string
}

// Decision is what the plan says to do with one resource, and why.
type Decision struct {
	Resource Resource
	// Verb is what to do; Leave marks a resource left alone on purpose.
	Verb   Verb
	Leave  bool
	Reason string
}

// Act is a decision to do verb to r.
func Act(r Resource, verb Verb, reason string) Decision {
	return Decision{Resource: r, Verb: verb, Reason: reason}
}

// Leave is a decision to leave r alone, saying why.
func Leave(r Resource, reason string) Decision {
	return Decision{Resource: r, Leave: true, Reason: reason}
}

// Status is how an attempted change ended.
type Status string

const (
	StatusDone    Status = "done"
	StatusFailed  Status = "failed"
	StatusPlanned Status = "planned" // a dry run's plan: nothing was changed
	// StatusGone means the resource vanished or was already on its way
	// down before we acted, and a check confirmed it: nothing left to do.
	StatusGone Status = "gone"
)

// Outcome is what happened to one resource that was acted on.
type Outcome struct {
	ID     string `json:"id"`
	Verb   Verb   `json:"verb"` // the change finally made or attempted
	Status Status `json:"status"`
	// Code is the AWS error code of a failure, Message its text.
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
	// Prior is the state before the change, for the restore.
	Prior PriorState `json:"prior,omitempty"`
	// Also lists the other changes made on the way, each with its own
	// prior state (e.g. stop protection turned off to let a stop through).
	Also []Change `json:"also,omitempty"`
	// Note explains a change of plan, e.g. a stop the API refused that was
	// turned into a terminate.
	Note string `json:"note,omitempty"`
}

// Change is a secondary change made to a resource, with its prior state.
type Change struct {
	Verb  Verb       `json:"verb"`
	Prior PriorState `json:"prior,omitempty"`
}

// Label is where the report places an outcome: the kind's own verb for a
// change made or planned, else the status. An outcome the report cannot
// place gets a label that says so, and counts as a failure.
func (o Outcome) Label() string {
	switch o.Status {
	case StatusDone:
		if o.Verb.Past == "" {
			return unplacedPrefix + "verb (done)"
		}
		return o.Verb.Past
	case StatusPlanned:
		if o.Verb.Plan == "" {
			return unplacedPrefix + "verb (planned)"
		}
		return "would " + o.Verb.Plan
	case StatusFailed:
		return LabelFailed
	case StatusGone:
		return LabelGone
	}
	return unplacedPrefix + "status " + string(o.Status)
}

// Labels the report uses for outcomes that are not a kind's verb.
const (
	LabelFailed    = "failed"
	LabelGone      = "already gone"
	unplacedPrefix = "UNPLACED: unknown "
)

// Placed says whether the report knows where the outcome belongs.
func (o Outcome) Placed() bool {
	l := o.Label()
	return len(l) < len(unplacedPrefix) || l[:len(unplacedPrefix)] != unplacedPrefix
}

// Changed says whether the outcome changed something (or would have, in a
// dry run): a contained resource.
func (o Outcome) Changed() bool {
	return o.Placed() && (o.Status == StatusDone || o.Status == StatusPlanned)
}

// RawPrior is a prior state read back from a JSON report: the restore
// decodes it into the kind's own type, which only the kind knows.
type RawPrior json.RawMessage

func (r RawPrior) Describe() string { return string(r) }

func (r RawPrior) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// UnmarshalJSON reads an outcome back from a report, keeping each prior
// state as RawPrior.
func (o *Outcome) UnmarshalJSON(b []byte) error {
	type plain Outcome
	var aux struct {
		plain
		Prior json.RawMessage `json:"prior,omitempty"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*o = Outcome(aux.plain)
	o.Prior = rawPrior(aux.Prior)
	return nil
}

// UnmarshalJSON reads a change back from a report, like Outcome's.
func (c *Change) UnmarshalJSON(b []byte) error {
	var aux struct {
		Verb  Verb            `json:"verb"`
		Prior json.RawMessage `json:"prior,omitempty"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*c = Change{Verb: aux.Verb, Prior: rawPrior(aux.Prior)}
	return nil
}

func rawPrior(b json.RawMessage) PriorState {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	return RawPrior(b)
}
