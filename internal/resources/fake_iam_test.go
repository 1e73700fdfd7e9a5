package resources_test

import (
	"context"
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
	// errs fails a call by operation name, e.g. "AttachRolePolicy".
	errs  map[string]error
	calls []string
}

var (
	_ resources.QuarantineAPI = (*fakeIAM)(nil)
	_ resources.IAMTrailAPI   = (*fakeIAM)(nil)
)

func newFakeIAM() *fakeIAM {
	return &fakeIAM{members: map[string][]string{}, attached: map[string][]string{}, keys: map[string][]iamtypes.AccessKeyMetadata{},
		keyUsed: map[string]time.Time{}, logins: map[string]time.Time{}, mfa: map[string]bool{}, roleUsed: map[string]time.Time{}, errs: map[string]error{}}
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
	f.roles = append(f.roles, iamtypes.Role{RoleName: aws.String(name), RoleId: aws.String("AROA" + name), Arn: aws.String(arn), Path: aws.String(path), CreateDate: aws.Time(created)})
	return arn
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
	on := func(entity string) bool {
		for _, p := range f.attached[entity] {
			if p == aws.ToString(in.PolicyArn) {
				return true
			}
		}
		return false
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
	f.attached[entity] = append(f.attached[entity], policy)
	return nil
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
