package resources

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/guard"
)

// QuarantineAPI is the slice of the IAM client the quarantine uses; unit
// tests put a fake behind it.
type QuarantineAPI interface {
	iam.ListUsersAPIClient
	iam.ListGroupsAPIClient
	iam.ListRolesAPIClient
	iam.ListEntitiesForPolicyAPIClient
	iam.ListGroupsForUserAPIClient
	AttachUserPolicy(ctx context.Context, in *iam.AttachUserPolicyInput, optFns ...func(*iam.Options)) (*iam.AttachUserPolicyOutput, error)
	AttachGroupPolicy(ctx context.Context, in *iam.AttachGroupPolicyInput, optFns ...func(*iam.Options)) (*iam.AttachGroupPolicyOutput, error)
	AttachRolePolicy(ctx context.Context, in *iam.AttachRolePolicyInput, optFns ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error)
}

// Principal types, as the report and the prior state name them.
const (
	PrincipalUser  = "user"
	PrincipalGroup = "group"
	PrincipalRole  = "role"
)

// Attribute keys Quarantine puts on a Resource.
const (
	attrPrincipalType = "principal-type"
	attrPrincipalName = "principal-name"
	attrPrincipalPath = "principal-path"
	// attrBreakGlassMember names the break-glass user a group holds.
	attrBreakGlassMember = "break-glass-member"
)

// QuarantinePrior is a principal before the quarantine policy was attached
// to it: the restore detaches the policy from exactly these.
type QuarantinePrior struct {
	PrincipalType string `json:"principalType"`
	PrincipalName string `json:"principalName"`
	PrincipalARN  string `json:"principalArn"`
	PolicyARN     string `json:"policyArn"`
	// PolicyAttached is false: Find leaves out principals that already
	// have the policy, so a restore never detaches one it did not attach.
	PolicyAttached bool `json:"policyAttached"`
}

func (p QuarantinePrior) Describe() string {
	return fmt.Sprintf("%s %s without the quarantine policy", p.PrincipalType, p.PrincipalName)
}

// QuarantineOptions are the deploy-time facts the quarantine needs.
type QuarantineOptions struct {
	// PolicyARN is the deny policy the stack created.
	PolicyARN string
	// BreakGlassARNs are exempt by the engine (Policy.Exempt); the
	// quarantine needs them only to spare a group that holds one, since a
	// group's policy applies to its members.
	BreakGlassARNs []string
}

// Quarantine attaches the stack's deny-launch policy to every IAM user,
// group and role, so that stolen credentials can neither launch again nor
// turn the kill switch off. It is global: IAM has no regions.
type Quarantine struct {
	api  QuarantineAPI
	opts QuarantineOptions
	verb engine.Verb
}

var (
	_ engine.Kind   = (*Quarantine)(nil)
	_ engine.Global = (*Quarantine)(nil)
)

func NewQuarantine(api QuarantineAPI, opts QuarantineOptions) *Quarantine {
	return &Quarantine{api: api, opts: opts, verb: VerbQuarantine(opts.PolicyARN)}
}

// VerbQuarantine is the quarantine's verb for the policy. Its note tells
// the owner, in the report, how to lift the quarantine: only a principal
// the policy does not bind can detach it.
func VerbQuarantine(policyARN string) engine.Verb {
	return engine.Verb{
		Past: "quarantine policy attached",
		Plan: "attach the quarantine policy",
		Note: "they can no longer launch compute, create users or keys, or change the kill switch. " +
			"To lift it, sign in as the root user or a break-glass principal; " +
			"`aws iam list-entities-for-policy --policy-arn " + policyARN + "` lists everyone it is attached to, and " +
			"`aws iam detach-user-policy --user-name NAME --policy-arn " + policyARN + "` " +
			"(detach-role-policy --role-name, detach-group-policy --group-name) lifts it from each. " +
			"Lift it only once the attacker's users, keys and roles are gone, or the switch re-applies it at the next re-sweep while it stays tripped.",
	}
}

func (*Quarantine) Name() string { return "IAM principals" }
func (*Quarantine) Noun() string { return "principal" }
func (*Quarantine) Global() bool { return true }

// Find lists every user, group and role without the policy. AWS-managed
// roles are left out: IAM refuses customer policies on service-linked roles
// and AWS owns the reserved ones. The kill switch's own roles are listed,
// and Decide leaves them alone, so the report says so.
func (k *Quarantine) Find(ctx context.Context, _ string) ([]engine.Resource, error) {
	if k.opts.PolicyARN == "" {
		return nil, errors.New("no quarantine policy ARN (KILLSWITCH_QUARANTINE_POLICY_ARN) is set")
	}
	attached, err := k.attachedIDs(ctx)
	if err != nil {
		// Without it every principal would be attached again, which IAM
		// accepts; but a listing that fails here fails below too.
		return nil, err
	}
	holding, err := k.breakGlassGroups(ctx)
	if err != nil {
		return nil, err
	}

	var found []engine.Resource
	add := func(typ, id, arn, name, path string) {
		if attached[id] {
			return
		}
		r := engine.Resource{
			ID:         arn,
			State:      "not quarantined",
			Attributes: map[string]string{attrPrincipalType: typ, attrPrincipalName: name, attrPrincipalPath: path},
			Prior:      QuarantinePrior{PrincipalType: typ, PrincipalName: name, PrincipalARN: arn, PolicyARN: k.opts.PolicyARN},
		}
		if typ == PrincipalGroup && holding[name] != "" {
			r.Attributes[attrBreakGlassMember] = holding[name]
		}
		found = append(found, r)
	}

	users := iam.NewListUsersPaginator(k.api, &iam.ListUsersInput{})
	for users.HasMorePages() {
		page, err := users.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("listing IAM users: %w", err)
		}
		for _, u := range page.Users {
			add(PrincipalUser, aws.ToString(u.UserId), aws.ToString(u.Arn), aws.ToString(u.UserName), aws.ToString(u.Path))
		}
	}
	groups := iam.NewListGroupsPaginator(k.api, &iam.ListGroupsInput{})
	for groups.HasMorePages() {
		page, err := groups.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("listing IAM groups: %w", err)
		}
		for _, g := range page.Groups {
			add(PrincipalGroup, aws.ToString(g.GroupId), aws.ToString(g.Arn), aws.ToString(g.GroupName), aws.ToString(g.Path))
		}
	}
	roles := iam.NewListRolesPaginator(k.api, &iam.ListRolesInput{})
	for roles.HasMorePages() {
		page, err := roles.NextPage(ctx)
		if err != nil {
			return found, fmt.Errorf("listing IAM roles: %w", err)
		}
		for _, r := range page.Roles {
			if guard.AWSManagedRolePath(aws.ToString(r.Path)) {
				continue
			}
			add(PrincipalRole, aws.ToString(r.RoleId), aws.ToString(r.Arn), aws.ToString(r.RoleName), aws.ToString(r.Path))
		}
	}
	return found, nil
}

// attachedIDs are the unique IDs of the principals that already have the
// policy: one listing instead of one call per principal. IDs, not names: a
// principal deleted and re-created under the same name is a new one.
func (k *Quarantine) attachedIDs(ctx context.Context) (map[string]bool, error) {
	ids := map[string]bool{}
	pages := iam.NewListEntitiesForPolicyPaginator(k.api, &iam.ListEntitiesForPolicyInput{PolicyArn: aws.String(k.opts.PolicyARN)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("listing who has the quarantine policy %s: %w", k.opts.PolicyARN, err)
		}
		for _, u := range page.PolicyUsers {
			ids[aws.ToString(u.UserId)] = true
		}
		for _, g := range page.PolicyGroups {
			ids[aws.ToString(g.GroupId)] = true
		}
		for _, r := range page.PolicyRoles {
			ids[aws.ToString(r.RoleId)] = true
		}
	}
	return ids, nil
}

// breakGlassGroups maps each group that holds a break-glass user to that
// user's name. A break-glass user that does not exist holds no group.
func (k *Quarantine) breakGlassGroups(ctx context.Context) (map[string]string, error) {
	out := map[string]string{}
	for _, arn := range k.opts.BreakGlassARNs {
		name, ok := userNameFromARN(arn)
		if !ok {
			continue
		}
		pages := iam.NewListGroupsForUserPaginator(k.api, &iam.ListGroupsForUserInput{UserName: aws.String(name)})
		for pages.HasMorePages() {
			page, err := pages.NextPage(ctx)
			if errorCode(err) == "NoSuchEntity" {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("listing the groups of break-glass user %s: %w", name, err)
			}
			for _, g := range page.Groups {
				out[aws.ToString(g.GroupName)] = name
			}
		}
	}
	return out, nil
}

// userNameFromARN is the name of an IAM user ARN (the last path element).
func userNameFromARN(arn string) (string, bool) {
	_, resource, ok := strings.Cut(arn, ":user/")
	if !ok || resource == "" {
		return "", false
	}
	return resource[strings.LastIndex(resource, "/")+1:], true
}

// Decide quarantines every principal but the kill switch's own roles and
// the groups of break-glass users (break-glass principals themselves are
// exempt by the engine, by ARN).
func (k *Quarantine) Decide(r engine.Resource) engine.Decision {
	typ, name := r.Attributes[attrPrincipalType], r.Attributes[attrPrincipalName]
	switch {
	case typ == PrincipalRole && guard.OwnRole(r.Attributes[attrPrincipalPath], name):
		return engine.Leave(r, "the kill switch's own role (path "+guard.RolePath+"): quarantining it would stop the switch")
	case typ == PrincipalGroup && r.Attributes[attrBreakGlassMember] != "":
		return engine.Leave(r, "holds break-glass user "+r.Attributes[attrBreakGlassMember]+
			"; its other members are quarantined one by one instead")
	}
	return engine.Act(r, k.verb, "quarantine is deny-launch: the "+typ+" could launch again or turn the kill switch off")
}

// Contain attaches the policy to each principal, one call each (IAM has no
// batch call). A principal deleted meanwhile is gone, not failed.
func (k *Quarantine) Contain(ctx context.Context, _ string, todo []engine.Decision) []engine.Outcome {
	out := make([]engine.Outcome, 0, len(todo))
	for _, d := range todo {
		o := engine.Outcome{ID: d.Resource.ID, Verb: k.verb, Prior: d.Resource.Prior, Status: engine.StatusDone}
		if err := k.attach(ctx, d.Resource); err != nil {
			o.Code, o.Message = errorCode(err), err.Error()
			o.Status = engine.StatusFailed
			if o.Code == "NoSuchEntity" {
				o.Status = engine.StatusGone
			}
		}
		out = append(out, o)
	}
	return out
}

func (k *Quarantine) attach(ctx context.Context, r engine.Resource) error {
	policy, name := aws.String(k.opts.PolicyARN), aws.String(r.Attributes[attrPrincipalName])
	var err error
	switch typ := r.Attributes[attrPrincipalType]; typ {
	case PrincipalUser:
		_, err = k.api.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: name, PolicyArn: policy})
	case PrincipalGroup:
		_, err = k.api.AttachGroupPolicy(ctx, &iam.AttachGroupPolicyInput{GroupName: name, PolicyArn: policy})
	case PrincipalRole:
		_, err = k.api.AttachRolePolicy(ctx, &iam.AttachRolePolicyInput{RoleName: name, PolicyArn: policy})
	default:
		err = fmt.Errorf("unknown principal type %q", typ)
	}
	return err
}
