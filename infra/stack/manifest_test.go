package stack_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/infra/stack"
	"github.com/killswitch/killswitch/internal/guard"
)

// The manifest bucket: versioned, encrypted, private, TLS only, expiring,
// kept when the stack goes, named as the quarantine names it, and in the
// outputs for the CLI.
func TestManifestBucket(t *testing.T) {
	b := build(t, stack.DefaultConfig(), "us-east-1")
	buckets := b.ofType("AWS::S3::Bucket")
	if len(buckets) != 1 {
		t.Fatalf("%d buckets, want 1", len(buckets))
	}
	id := buckets[0]
	assert(t, "bucket properties", func() {
		b.tmpl.HasResourceProperties(jsii.String("AWS::S3::Bucket"), m(
			"VersioningConfiguration", m("Status", "Enabled"),
			"BucketEncryption", m("ServerSideEncryptionConfiguration", arr(m("ServerSideEncryptionByDefault", m("SSEAlgorithm", "AES256")))),
			"PublicAccessBlockConfiguration", m("BlockPublicAcls", true, "BlockPublicPolicy", true, "IgnorePublicAcls", true, "RestrictPublicBuckets", true),
			"LifecycleConfiguration", m("Rules", arr(m(
				"Status", "Enabled",
				"ExpirationInDays", stack.ManifestExpiryDays,
				"NoncurrentVersionExpiration", m("NoncurrentDays", stack.ManifestNoncurrentExpiryDays),
			), m(
				"Status", "Enabled",
				"Prefix", "census/",
				"NoncurrentVersionExpiration", m("NoncurrentDays", stack.CensusNoncurrentExpiryDays),
			))),
		))
	})
	res := b.resources()[id]
	if res["DeletionPolicy"] != "Retain" {
		t.Errorf("DeletionPolicy = %v, want Retain: the manifest must outlive the stack", res["DeletionPolicy"])
	}
	name := b.props(id)["BucketName"]
	if got, _ := json.Marshal(name); !strings.Contains(string(got), "killswitch-manifests-") {
		t.Errorf("BucketName = %s, want the fixed name %s", got, guard.ManifestBucketName)
	}
	assert(t, "TLS only", func() {
		b.tmpl.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), m(
			"Bucket", ref(id),
			"PolicyDocument", m("Statement", assertions.Match_ArrayWith(&[]any{assertions.Match_ObjectLike(m(
				"Effect", "Deny", "Action", "s3:*",
				"Condition", m("Bool", m("aws:SecureTransport", "false")),
			))})),
		))
	})
	assert(t, "output", func() {
		b.tmpl.HasOutput(jsii.String(stack.ManifestBucketOutput), m("Value", ref(id)))
	})
}

// The quarantine denies changing the manifest bucket and its objects: it
// denies every action but who-am-I and assuming a break-glass role, on
// every resource (internal/guard's evaluator tests prove it).
func TestQuarantineDeniesChangingTheManifest(t *testing.T) {
	doc := guard.QuarantineDocument(nil)
	for _, s := range doc.Statement {
		if s.Effect != "Deny" || len(s.NotAction) == 0 {
			continue
		}
		for _, a := range s.NotAction {
			if strings.HasPrefix(a, "s3:") {
				t.Errorf("the quarantine leaves %s allowed", a)
			}
		}
		if !containsString(s.Resource, "*") {
			t.Errorf("deny-by-default on %v, want *", s.Resource)
		}
		return
	}
	t.Fatal("no deny-by-default (Deny NotAction) statement in the quarantine policy")
}
