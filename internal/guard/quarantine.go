package guard

import "strings"

// Document is an IAM policy document.
type Document struct {
	Version   string      `json:"Version"`
	Statement []Statement `json:"Statement"`
}

// Statement is one statement of a Document. Resources and condition values
// may hold the ${Partition}, ${Region} and ${Account} placeholders.
type Statement struct {
	Sid         string                         `json:"Sid,omitempty"`
	Effect      string                         `json:"Effect"`
	Principal   map[string][]string            `json:"Principal,omitempty"`
	Action      []string                       `json:"Action,omitempty"`
	NotAction   []string                       `json:"NotAction,omitempty"`
	Resource    []string                       `json:"Resource,omitempty"`
	NotResource []string                       `json:"NotResource,omitempty"`
	Condition   map[string]map[string][]string `json:"Condition,omitempty"`
}

// QuarantineAllowed are the only calls a quarantined principal may still
// make: who am I, and assuming a break-glass role (only those: the Deny on
// sts:AssumeRole names them as its NotResource). Everything else, in every
// service AWS has or will add, is denied.
var QuarantineAllowed = []string{"sts:GetCallerIdentity", "sts:AssumeRole"}

// QuarantineDocument is the quarantine policy: deny by default. It denies
// every action but QuarantineAllowed, and sts:AssumeRole of any role but
// the break-glass roles among breakGlass (user ARNs there are simply left
// out of the quarantine; they need no role to reach).
//
// It allows the same short list on *: the function attaches this policy
// as a principal's permissions boundary when its managed-policy slots are
// full, and a boundary allows nothing it does not name. As an identity
// policy the Allow grants nothing a Deny here does not take back.
//
// The break-glass role ARNs appear once, in the Deny's NotResource, so
// that ten of them fit in IAM's 6,144 characters.
func QuarantineDocument(breakGlass []string) Document {
	var roles []string
	for _, a := range breakGlass {
		if strings.Contains(a, ":role/") {
			roles = append(roles, a)
		}
	}
	assume := Statement{Sid: "DenyAssumingAnyRoleButBreakGlass", Effect: "Deny", Action: []string{"sts:AssumeRole"}}
	if len(roles) == 0 {
		assume.Resource = []string{"*"}
	} else {
		assume.NotResource = roles
	}
	return Document{
		Version: "2012-10-17",
		Statement: []Statement{
			{Sid: "AllowOnlyWhoAmIAndBreakGlass", Effect: "Allow", Action: QuarantineAllowed, Resource: []string{"*"}},
			{Sid: "DenyEverythingElse", Effect: "Deny", NotAction: QuarantineAllowed, Resource: []string{"*"}},
			assume,
		},
	}
}

// Resolve fills the placeholders of every resource, not-resource,
// principal and condition value.
func (d Document) Resolve(partition, region, account string) Document {
	out := Document{Version: d.Version}
	res := func(in []string) []string {
		if in == nil {
			return nil
		}
		o := make([]string, len(in))
		for i, r := range in {
			o[i] = Resolve(r, partition, region, account)
		}
		return o
	}
	for _, s := range d.Statement {
		r := s
		r.Resource = res(s.Resource)
		r.NotResource = res(s.NotResource)
		if s.Principal != nil {
			r.Principal = map[string][]string{}
			for k, vs := range s.Principal {
				r.Principal[k] = res(vs)
			}
		}
		if s.Condition != nil {
			r.Condition = map[string]map[string][]string{}
			for op, kv := range s.Condition {
				r.Condition[op] = map[string][]string{}
				for k, vs := range kv {
					r.Condition[op][k] = res(vs)
				}
			}
		}
		out.Statement = append(out.Statement, r)
	}
	return out
}
