package resources_test

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/killswitch/killswitch/internal/resources"
)

const fakeAccount = "111122223333"

// fakeIAM is a hand-written IAM for the quarantine and the IAM trail:
// users, groups and roles with their attached policies, access keys, login
// profiles and MFA devices. Listings page two at a time.
type fakeIAM struct {
	mu       sync.Mutex
	users    []iamtypes.User
	groups   []iamtypes.Group
	roles    []iamtypes.Role
	members  map[string][]string // group -> user names
	attached map[string][]string // "user/NAME", "group/NAME", "role/NAME" -> policy ARNs
	keys     map[string][]iamtypes.AccessKeyMetadata
	keyUsed  map[string]time.Time
	logins   map[string]time.Time
	mfa      map[string]bool
	roleUsed map[string]time.Time
	// boundary is each principal's permissions boundary, by "user/NAME"
	// or "role/NAME".
	boundary map[string]string
	// quota, when above 0, is IAM's managed-policy quota per principal:
	// an attach beyond it answers LimitExceeded, as IAM does.
	quota int
	// errs fails a call by operation name, e.g. "AttachRolePolicy".
	errs  map[string]error
	calls []string
}

var (
	_ resources.QuarantineAPI = (*fakeIAM)(nil)
	_ resources.IAMTrailAPI   = (*fakeIAM)(nil)
	// Unlike moto, which has no PutUserPermissionsBoundary (moto 5.2.1
	// implements the role's only), the fake covers the user's boundary.
	_ resources.QuarantineRestoreAPI = (*fakeIAM)(nil)
)

func newFakeIAM() *fakeIAM {
	return &fakeIAM{members: map[string][]string{}, attached: map[string][]string{}, keys: map[string][]iamtypes.AccessKeyMetadata{},
		keyUsed: map[string]time.Time{}, logins: map[string]time.Time{}, mfa: map[string]bool{}, roleUsed: map[string]time.Time{}, errs: map[string]error{},
		boundary: map[string]string{}}
}

func (f *fakeIAM) addUser(name string, created time.Time) string {
	arn := "arn:aws:iam::" + fakeAccount + ":user/" + name
	f.users = append(f.users, iamtypes.User{UserName: aws.String(name), UserId: aws.String("AIDA" + name), Arn: aws.String(arn), Path: aws.String("/"), CreateDate: aws.Time(created)})
	return arn
}

func (f *fakeIAM) addGroup(name string, members ...string) string {
	arn := "arn:aws:iam::" + fakeAccount + ":group/" + name
	f.groups = append(f.groups, iamtypes.Group{GroupName: aws.String(name), GroupId: aws.String("AGPA" + name), Arn: aws.String(arn), Path: aws.String("/")})
	f.members[name] = members
	return arn
}

func (f *fakeIAM) addRole(path, name string, created time.Time) string {
	arn := "arn:aws:iam::" + fakeAccount + ":role" + path + name
	f.roles = append(f.roles, iamtypes.Role{RoleName: aws.String(name), RoleId: aws.String("AROA" + name), Arn: aws.String(arn), Path: aws.String(path), CreateDate: aws.Time(created),
		AssumeRolePolicyDocument: aws.String(url.PathEscape(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}`))})
	return arn
}

// setTrust gives a role a trust policy, URL-encoded as IAM returns it.
func (f *fakeIAM) setTrust(name, doc string) {
	for i, r := range f.roles {
		if aws.ToString(r.RoleName) == name {
			f.roles[i].AssumeRolePolicyDocument = aws.String(url.PathEscape(doc))
		}
	}
}

// roleID is a role's unique ID.
func (f *fakeIAM) roleID(name string) string {
	for _, r := range f.roles {
		if aws.ToString(r.RoleName) == name {
			return aws.ToString(r.RoleId)
		}
	}
	return ""
}

// fill attaches n placeholder policies to an entity, filling its slots.
func (f *fakeIAM) fill(entity string, n int) {
	for i := range n {
		f.attached[entity] = append(f.attached[entity], fmt.Sprintf("arn:aws:iam::%s:policy/filler-%d", fakeAccount, i))
	}
}

func (f *fakeIAM) addKey(user, id string, created time.Time, status iamtypes.StatusType) {
	f.keys[user] = append(f.keys[user], iamtypes.AccessKeyMetadata{UserName: aws.String(user), AccessKeyId: aws.String(id), CreateDate: aws.Time(created), Status: status})
}

func (f *fakeIAM) call(op string) error {
	f.calls = append(f.calls, op)
	return f.errs[op]
}

func (f *fakeIAM) has(entity, policy string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.attached[entity] {
		if p == policy {
			return true
		}
	}
	return false
}

func (f *fakeIAM) ListUsers(_ context.Context, in *iam.ListUsersInput, _ ...func(*iam.Options)) (*iam.ListUsersOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("ListUsers"); err != nil {
		return nil, err
	}
	items, next := cpage(f.users, in.Marker, 2)
	return &iam.ListUsersOutput{Users: items, Marker: next, IsTruncated: next != nil}, nil
}

func (f *fakeIAM) ListGroups(_ context.Context, in *iam.ListGroupsInput, _ ...func(*iam.Options)) (*iam.ListGroupsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("ListGroups"); err != nil {
		return nil, err
	}
	items, next := cpage(f.groups, in.Marker, 2)
	return &iam.ListGroupsOutput{Groups: items, Marker: next, IsTruncated: next != nil}, nil
}

func (f *fakeIAM) ListRoles(_ context.Context, in *iam.ListRolesInput, _ ...func(*iam.Options)) (*iam.ListRolesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("ListRoles"); err != nil {
		return nil, err
	}
	items, next := cpage(f.roles, in.Marker, 2)
	return &iam.ListRolesOutput{Roles: items, Marker: next, IsTruncated: next != nil}, nil
}

func (f *fakeIAM) ListEntitiesForPolicy(_ context.Context, in *iam.ListEntitiesForPolicyInput, _ ...func(*iam.Options)) (*iam.ListEntitiesForPolicyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("ListEntitiesForPolicy"); err != nil {
		return nil, err
	}
	out := &iam.ListEntitiesForPolicyOutput{}
	// As IAM documents PolicyUsageFilter: attachments, boundaries, or
	// (no filter) both.
	on := func(entity string) bool {
		if in.PolicyUsageFilter != iamtypes.PolicyUsageTypePermissionsBoundary {
			for _, p := range f.attached[entity] {
				if p == aws.ToString(in.PolicyArn) {
					return true
				}
			}
		}
		return in.PolicyUsageFilter != iamtypes.PolicyUsageTypePermissionsPolicy && f.boundary[entity] == aws.ToString(in.PolicyArn)
	}
	for _, u := range f.users {
		if on("user/" + aws.ToString(u.UserName)) {
			out.PolicyUsers = append(out.PolicyUsers, iamtypes.PolicyUser{UserName: u.UserName, UserId: u.UserId})
		}
	}
	for _, g := range f.groups {
		if on("group/" + aws.ToString(g.GroupName)) {
			out.PolicyGroups = append(out.PolicyGroups, iamtypes.PolicyGroup{GroupName: g.GroupName, GroupId: g.GroupId})
		}
	}
	for _, r := range f.roles {
		if on("role/" + aws.ToString(r.RoleName)) {
			out.PolicyRoles = append(out.PolicyRoles, iamtypes.PolicyRole{RoleName: r.RoleName, RoleId: r.RoleId})
		}
	}
	return out, nil
}

func (f *fakeIAM) ListGroupsForUser(_ context.Context, in *iam.ListGroupsForUserInput, _ ...func(*iam.Options)) (*iam.ListGroupsForUserOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("ListGroupsForUser"); err != nil {
		return nil, err
	}
	user := aws.ToString(in.UserName)
	if !f.userExists(user) {
		return nil, apiErr("NoSuchEntity")
	}
	out := &iam.ListGroupsForUserOutput{}
	for _, g := range f.groups {
		for _, m := range f.members[aws.ToString(g.GroupName)] {
			if m == user {
				out.Groups = append(out.Groups, g)
			}
		}
	}
	return out, nil
}

func (f *fakeIAM) userExists(name string) bool {
	for _, u := range f.users {
		if aws.ToString(u.UserName) == name {
			return true
		}
	}
	return false
}

func (f *fakeIAM) attach(op, entity, policy string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(op + " " + entity); err != nil {
		return err
	}
	if err := f.call(op); err != nil {
		return err
	}
	if f.quota > 0 && len(f.attached[entity]) >= f.quota {
		return apiErr("LimitExceeded")
	}
	f.attached[entity] = append(f.attached[entity], policy)
	return nil
}

func (f *fakeIAM) detach(op, entity, policy string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(op + " " + entity); err != nil {
		return err
	}
	for i, p := range f.attached[entity] {
		if p == policy {
			f.attached[entity] = append(f.attached[entity][:i:i], f.attached[entity][i+1:]...)
			return nil
		}
	}
	return apiErr("NoSuchEntity")
}

func (f *fakeIAM) DetachUserPolicy(_ context.Context, in *iam.DetachUserPolicyInput, _ ...func(*iam.Options)) (*iam.DetachUserPolicyOutput, error) {
	return &iam.DetachUserPolicyOutput{}, f.detach("DetachUserPolicy", "user/"+aws.ToString(in.UserName), aws.ToString(in.PolicyArn))
}

func (f *fakeIAM) DetachGroupPolicy(_ context.Context, in *iam.DetachGroupPolicyInput, _ ...func(*iam.Options)) (*iam.DetachGroupPolicyOutput, error) {
	return &iam.DetachGroupPolicyOutput{}, f.detach("DetachGroupPolicy", "group/"+aws.ToString(in.GroupName), aws.ToString(in.PolicyArn))
}

func (f *fakeIAM) DetachRolePolicy(_ context.Context, in *iam.DetachRolePolicyInput, _ ...func(*iam.Options)) (*iam.DetachRolePolicyOutput, error) {
	return &iam.DetachRolePolicyOutput{}, f.detach("DetachRolePolicy", "role/"+aws.ToString(in.RoleName), aws.ToString(in.PolicyArn))
}

// setBoundary sets (policy != "") or deletes an entity's boundary.
func (f *fakeIAM) setBoundary(op, entity, policy string, exists bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call(op); err != nil {
		return err
	}
	if !exists {
		return apiErr("NoSuchEntity")
	}
	if policy == "" {
		delete(f.boundary, entity)
	} else {
		f.boundary[entity] = policy
	}
	return nil
}

func (f *fakeIAM) roleExists(name string) bool {
	for _, r := range f.roles {
		if aws.ToString(r.RoleName) == name {
			return true
		}
	}
	return false
}

func (f *fakeIAM) PutUserPermissionsBoundary(_ context.Context, in *iam.PutUserPermissionsBoundaryInput, _ ...func(*iam.Options)) (*iam.PutUserPermissionsBoundaryOutput, error) {
	name := aws.ToString(in.UserName)
	return &iam.PutUserPermissionsBoundaryOutput{}, f.setBoundary("PutUserPermissionsBoundary", "user/"+name, aws.ToString(in.PermissionsBoundary), f.userExistsLocked(name))
}

func (f *fakeIAM) PutRolePermissionsBoundary(_ context.Context, in *iam.PutRolePermissionsBoundaryInput, _ ...func(*iam.Options)) (*iam.PutRolePermissionsBoundaryOutput, error) {
	name := aws.ToString(in.RoleName)
	return &iam.PutRolePermissionsBoundaryOutput{}, f.setBoundary("PutRolePermissionsBoundary", "role/"+name, aws.ToString(in.PermissionsBoundary), f.roleExistsLocked(name))
}

func (f *fakeIAM) DeleteUserPermissionsBoundary(_ context.Context, in *iam.DeleteUserPermissionsBoundaryInput, _ ...func(*iam.Options)) (*iam.DeleteUserPermissionsBoundaryOutput, error) {
	name := aws.ToString(in.UserName)
	return &iam.DeleteUserPermissionsBoundaryOutput{}, f.setBoundary("DeleteUserPermissionsBoundary", "user/"+name, "", f.userExistsLocked(name))
}

func (f *fakeIAM) DeleteRolePermissionsBoundary(_ context.Context, in *iam.DeleteRolePermissionsBoundaryInput, _ ...func(*iam.Options)) (*iam.DeleteRolePermissionsBoundaryOutput, error) {
	name := aws.ToString(in.RoleName)
	return &iam.DeleteRolePermissionsBoundaryOutput{}, f.setBoundary("DeleteRolePermissionsBoundary", "role/"+name, "", f.roleExistsLocked(name))
}

func (f *fakeIAM) userExistsLocked(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.userExists(name)
}

func (f *fakeIAM) roleExistsLocked(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.roleExists(name)
}

func boundaryOf(arn string) *iamtypes.AttachedPermissionsBoundary {
	if arn == "" {
		return nil
	}
	return &iamtypes.AttachedPermissionsBoundary{PermissionsBoundaryArn: aws.String(arn), PermissionsBoundaryType: iamtypes.PermissionsBoundaryAttachmentTypePolicy}
}

func (f *fakeIAM) GetUser(_ context.Context, in *iam.GetUserInput, _ ...func(*iam.Options)) (*iam.GetUserOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("GetUser"); err != nil {
		return nil, err
	}
	for _, u := range f.users {
		if aws.ToString(u.UserName) == aws.ToString(in.UserName) {
			u.PermissionsBoundary = boundaryOf(f.boundary["user/"+aws.ToString(u.UserName)])
			return &iam.GetUserOutput{User: &u}, nil
		}
	}
	return nil, apiErr("NoSuchEntity")
}

func (f *fakeIAM) GetAccountSummary(_ context.Context, _ *iam.GetAccountSummaryInput, _ ...func(*iam.Options)) (*iam.GetAccountSummaryOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("GetAccountSummary"); err != nil {
		return nil, err
	}
	q := int32(10)
	if f.quota > 0 {
		q = int32(f.quota)
	}
	return &iam.GetAccountSummaryOutput{SummaryMap: map[string]int32{"AttachedPoliciesPerGroupQuota": q, "AttachedPoliciesPerUserQuota": q, "AttachedPoliciesPerRoleQuota": q}}, nil
}

func (f *fakeIAM) ListAttachedGroupPolicies(_ context.Context, in *iam.ListAttachedGroupPoliciesInput, _ ...func(*iam.Options)) (*iam.ListAttachedGroupPoliciesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("ListAttachedGroupPolicies"); err != nil {
		return nil, err
	}
	var all []iamtypes.AttachedPolicy
	for _, p := range f.attached["group/"+aws.ToString(in.GroupName)] {
		all = append(all, iamtypes.AttachedPolicy{PolicyArn: aws.String(p)})
	}
	items, next := cpage(all, in.Marker, 4)
	return &iam.ListAttachedGroupPoliciesOutput{AttachedPolicies: items, Marker: next, IsTruncated: next != nil}, nil
}

func (f *fakeIAM) AttachUserPolicy(_ context.Context, in *iam.AttachUserPolicyInput, _ ...func(*iam.Options)) (*iam.AttachUserPolicyOutput, error) {
	return &iam.AttachUserPolicyOutput{}, f.attach("AttachUserPolicy", "user/"+aws.ToString(in.UserName), aws.ToString(in.PolicyArn))
}

func (f *fakeIAM) AttachGroupPolicy(_ context.Context, in *iam.AttachGroupPolicyInput, _ ...func(*iam.Options)) (*iam.AttachGroupPolicyOutput, error) {
	return &iam.AttachGroupPolicyOutput{}, f.attach("AttachGroupPolicy", "group/"+aws.ToString(in.GroupName), aws.ToString(in.PolicyArn))
}

func (f *fakeIAM) AttachRolePolicy(_ context.Context, in *iam.AttachRolePolicyInput, _ ...func(*iam.Options)) (*iam.AttachRolePolicyOutput, error) {
	return &iam.AttachRolePolicyOutput{}, f.attach("AttachRolePolicy", "role/"+aws.ToString(in.RoleName), aws.ToString(in.PolicyArn))
}

func (f *fakeIAM) ListAccessKeys(_ context.Context, in *iam.ListAccessKeysInput, _ ...func(*iam.Options)) (*iam.ListAccessKeysOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("ListAccessKeys"); err != nil {
		return nil, err
	}
	items, next := cpage(f.keys[aws.ToString(in.UserName)], in.Marker, 1)
	return &iam.ListAccessKeysOutput{AccessKeyMetadata: items, Marker: next, IsTruncated: next != nil}, nil
}

func (f *fakeIAM) GetAccessKeyLastUsed(_ context.Context, in *iam.GetAccessKeyLastUsedInput, _ ...func(*iam.Options)) (*iam.GetAccessKeyLastUsedOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("GetAccessKeyLastUsed"); err != nil {
		return nil, err
	}
	out := &iam.GetAccessKeyLastUsedOutput{AccessKeyLastUsed: &iamtypes.AccessKeyLastUsed{ServiceName: aws.String("N/A"), Region: aws.String("N/A")}}
	if t, ok := f.keyUsed[aws.ToString(in.AccessKeyId)]; ok {
		out.AccessKeyLastUsed = &iamtypes.AccessKeyLastUsed{LastUsedDate: aws.Time(t), ServiceName: aws.String("ec2"), Region: aws.String("ap-east-1")}
	}
	return out, nil
}

func (f *fakeIAM) GetLoginProfile(_ context.Context, in *iam.GetLoginProfileInput, _ ...func(*iam.Options)) (*iam.GetLoginProfileOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("GetLoginProfile"); err != nil {
		return nil, err
	}
	t, ok := f.logins[aws.ToString(in.UserName)]
	if !ok {
		return nil, apiErr("NoSuchEntity")
	}
	return &iam.GetLoginProfileOutput{LoginProfile: &iamtypes.LoginProfile{UserName: in.UserName, CreateDate: aws.Time(t)}}, nil
}

func (f *fakeIAM) ListMFADevices(_ context.Context, in *iam.ListMFADevicesInput, _ ...func(*iam.Options)) (*iam.ListMFADevicesOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("ListMFADevices"); err != nil {
		return nil, err
	}
	out := &iam.ListMFADevicesOutput{}
	if f.mfa[aws.ToString(in.UserName)] {
		out.MFADevices = []iamtypes.MFADevice{{UserName: in.UserName, SerialNumber: aws.String("arn:aws:iam::" + fakeAccount + ":mfa/x")}}
	}
	return out, nil
}

func (f *fakeIAM) GetRole(_ context.Context, in *iam.GetRoleInput, _ ...func(*iam.Options)) (*iam.GetRoleOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("GetRole"); err != nil {
		return nil, err
	}
	name := aws.ToString(in.RoleName)
	for _, r := range f.roles {
		if aws.ToString(r.RoleName) == name {
			r.PermissionsBoundary = boundaryOf(f.boundary["role/"+name])
			r.RoleLastUsed = &iamtypes.RoleLastUsed{}
			if t, ok := f.roleUsed[name]; ok {
				r.RoleLastUsed = &iamtypes.RoleLastUsed{LastUsedDate: aws.Time(t), Region: aws.String("us-east-1")}
			}
			return &iam.GetRoleOutput{Role: &r}, nil
		}
	}
	return nil, apiErr("NoSuchEntity")
}

func (f *fakeIAM) UpdateAccessKey(_ context.Context, in *iam.UpdateAccessKeyInput, _ ...func(*iam.Options)) (*iam.UpdateAccessKeyOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("UpdateAccessKey"); err != nil {
		return nil, err
	}
	user := aws.ToString(in.UserName)
	for i, k := range f.keys[user] {
		if aws.ToString(k.AccessKeyId) == aws.ToString(in.AccessKeyId) {
			f.keys[user][i].Status = in.Status
			return &iam.UpdateAccessKeyOutput{}, nil
		}
	}
	return nil, apiErr("NoSuchEntity")
}
