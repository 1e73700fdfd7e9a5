package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/killswitch/killswitch/internal/guard"
	"github.com/killswitch/killswitch/internal/iamsim"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/tests/internal/moto"
)

// The demo's IAM: the attacker's user, with AdministratorAccess, and a
// break-glass role the owner reaches with MFA.
const (
	demoAttacker   = "miner"
	demoBreakGlass = "break-glass"
	adminDocument  = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
)

// seedLockdown creates in moto what the deployed stack creates for the
// quarantine (its policy, from guard.QuarantineDocument with the
// break-glass role, and the switch's own roles) and what the attacker made
// with the stolen keys: a user with AdministratorAccess. It returns the
// function's environment for the quarantine, as the stack writes it.
func seedLockdown(ctx context.Context, cfg aws.Config) ([]string, error) {
	c := iam.NewFromConfig(cfg)
	bg := "arn:aws:iam::" + moto.Account + ":role/" + demoBreakGlass
	doc, err := json.Marshal(guard.QuarantineDocument([]string{bg}).Resolve("aws", moto.Region, moto.Account))
	if err != nil {
		return nil, err
	}
	pol, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String(guard.QuarantinePolicyName), PolicyDocument: aws.String(string(doc))})
	if err != nil {
		return nil, fmt.Errorf("creating the quarantine policy: %w", err)
	}
	// The roles the stack creates without Slack, with the trust it gives
	// them; the function knows them by the unique IDs IAM assigns.
	lambdaTrust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`
	schedulerTrust, err := json.Marshal(guard.ScheduleRoleTrust().Resolve("aws", moto.Region, moto.Account))
	if err != nil {
		return nil, err
	}
	var ownIDs []string
	for name, trust := range map[string]string{guard.FunctionRoleName: lambdaTrust, guard.ScheduleRoleName: string(schedulerTrust)} {
		r, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name), Path: aws.String(guard.RolePath), AssumeRolePolicyDocument: aws.String(trust)})
		if err != nil {
			return nil, fmt.Errorf("creating the switch's role %s: %w", name, err)
		}
		ownIDs = append(ownIDs, aws.ToString(r.Role.RoleId))
	}
	bgTrust := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + moto.Account +
		`:root"},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}`
	if _, err := c.CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(demoBreakGlass), AssumeRolePolicyDocument: aws.String(bgTrust)}); err != nil {
		return nil, fmt.Errorf("creating the break-glass role: %w", err)
	}
	admin, err := c.CreatePolicy(ctx, &iam.CreatePolicyInput{PolicyName: aws.String("AdministratorAccess"), PolicyDocument: aws.String(adminDocument)})
	if err != nil {
		return nil, err
	}
	if _, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String(demoAttacker)}); err != nil {
		return nil, err
	}
	if _, err := c.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String(demoAttacker), PolicyArn: admin.Policy.Arn}); err != nil {
		return nil, err
	}
	if _, err := c.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(demoAttacker)}); err != nil {
		return nil, err
	}
	return []string{
		settings.EnvQuarantine + "=" + settings.QuarantineDenyLaunch,
		settings.EnvQuarantinePolicyARN + "=" + aws.ToString(pol.Policy.Arn),
		settings.EnvBreakGlassARNs + "=" + bg,
		settings.EnvOwnRoleIDs + "=" + strings.Join(ownIDs, ","),
	}, nil
}

// showLockdown reads back what binds the attacker's user after the trip
// (its managed policies' default versions and its boundary) and asks a
// real IAM evaluator three of the attacker's requests.
func showLockdown(ctx context.Context, cfg aws.Config) error {
	c := iam.NewFromConfig(cfg)
	var identity, boundary []iamsim.Policy
	read := func(arn string) (iamsim.Policy, error) {
		p, err := c.GetPolicy(ctx, &iam.GetPolicyInput{PolicyArn: aws.String(arn)})
		if err != nil {
			return iamsim.Policy{}, err
		}
		v, err := c.GetPolicyVersion(ctx, &iam.GetPolicyVersionInput{PolicyArn: aws.String(arn), VersionId: p.Policy.DefaultVersionId})
		if err != nil {
			return iamsim.Policy{}, err
		}
		doc := aws.ToString(v.PolicyVersion.Document)
		if d, err := url.QueryUnescape(doc); err == nil && strings.HasPrefix(doc, "%") {
			doc = d
		}
		return iamsim.Policy{Name: arn, Policy: json.RawMessage(doc)}, nil
	}
	att, err := c.ListAttachedUserPolicies(ctx, &iam.ListAttachedUserPoliciesInput{UserName: aws.String(demoAttacker)})
	if err != nil {
		return err
	}
	var names []string
	quarantined := false
	for _, a := range att.AttachedPolicies {
		p, err := read(aws.ToString(a.PolicyArn))
		if err != nil {
			return err
		}
		identity = append(identity, p)
		names = append(names, aws.ToString(a.PolicyName))
		quarantined = quarantined || aws.ToString(a.PolicyName) == guard.QuarantinePolicyName
	}
	u, err := c.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(demoAttacker)})
	if err != nil {
		return err
	}
	if b := u.User.PermissionsBoundary; b != nil {
		p, err := read(aws.ToString(b.PermissionsBoundaryArn))
		if err != nil {
			return err
		}
		boundary = append(boundary, p)
		names = append(names, "boundary "+aws.ToString(b.PermissionsBoundaryArn))
		quarantined = quarantined || strings.HasSuffix(aws.ToString(b.PermissionsBoundaryArn), "/"+guard.QuarantinePolicyName)
	}
	state := "NOT QUARANTINED"
	if quarantined {
		state = "quarantined"
	}
	fmt.Printf("    IAM user %s: %s (%s)\n", demoAttacker, state, strings.Join(names, ", "))
	if !quarantined {
		return fmt.Errorf("the attacker's user %s was not quarantined", demoAttacker)
	}
	principal := "arn:aws:iam::" + moto.Account + ":user/" + demoAttacker
	reqs := []struct{ action, resource string }{
		{"ec2:RunInstances", "arn:aws:ec2:" + moto.Region + ":" + moto.Account + ":instance/*"},
		{"bedrock:InvokeModel", "arn:aws:bedrock:" + moto.Region + "::foundation-model/anthropic.claude-3-opus-20240229-v1:0"},
		{"lambda:InvokeFunction", guard.Resolve(guard.FunctionARN, "aws", moto.Region, moto.Account)},
	}
	var sims []iamsim.Simulation
	for _, r := range reqs {
		sims = append(sims, iamsim.Simulation{Principal: principal, Action: r.action, Resource: r.resource, ResourceAccount: moto.Account,
			Identity: identity, Boundaries: boundary})
	}
	got, err := iamsim.Evaluate(ctx, sims)
	if err != nil {
		return fmt.Errorf("the IAM evaluator (npm ci installs it; make demo runs it): %w", err)
	}
	fmt.Println("    The attacker's requests, as a real IAM evaluator (@cloud-copilot/iam-simulate) answers them:")
	for i, r := range reqs {
		fmt.Printf("      %-24s %-18s %s\n", r.action, got[i].Answer, r.resource)
		if !got[i].Denied() {
			return fmt.Errorf("%s is still allowed to the quarantined attacker", r.action)
		}
	}
	return nil
}
