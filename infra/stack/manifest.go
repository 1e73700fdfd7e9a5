package stack

import (
	"path"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/jsii-runtime-go"

	"github.com/killswitch/killswitch/internal/guard"
)

// Manifest retention: a restore is run within days of a trip; a year keeps
// the record for the owner's own review. Overwritten or deleted versions
// (only the root user or a break-glass principal can, once quarantined)
// are kept 90 days, so a tampered manifest can still be recovered.
const (
	ManifestExpiryDays           = 400
	ManifestNoncurrentExpiryDays = 90
	CensusNoncurrentExpiryDays   = 1
)

// newManifestBucket is the bucket the function writes its restore manifest
// to before it changes anything. Its fixed name (see internal/guard) lets
// the quarantine policy deny changing it without referencing it. It is
// kept when the stack is deleted: it is the only full record of what a
// trip changed.
func newManifestBucket(stack awscdk.Stack) awss3.Bucket {
	b := awss3.NewBucket(stack, jsii.String("ManifestBucket"), &awss3.BucketProps{
		BucketName:        jsii.String(resolvePseudo(guard.ManifestBucketName)),
		Versioned:         jsii.Bool(true),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("ExpireOldManifests"),
			Expiration:                          awscdk.Duration_Days(jsii.Number(ManifestExpiryDays)),
			NoncurrentVersionExpiration:         awscdk.Duration_Days(jsii.Number(ManifestNoncurrentExpiryDays)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}, {
			// The schedule overwrites the census record on every run; its
			// old versions are worth nothing after a day.
			Id:                          jsii.String("ExpireOldCensusRecords"),
			Prefix:                      jsii.String(censusPrefix),
			NoncurrentVersionExpiration: awscdk.Duration_Days(jsii.Number(CensusNoncurrentExpiryDays)),
		}},
	})
	suppress(b, "AwsSolutions-S1",
		"Server access logs would need a second bucket and its own retention for a bucket only the function writes, a few small objects per trip; "+
			"the quarantine denies everyone else changing it, versioning keeps every overwritten manifest, and CloudTrail data events can be turned on by the owner.")
	return b
}

// ManifestObjects is what the function may write and read back: the trips'
// objects of the fixed-name bucket.
const ManifestObjects = guard.ManifestBucketARN + "/trips/*"

// CensusObject is the one object the schedule overwrites with its newest
// census, for `killswitch status`.
const CensusObject = guard.ManifestBucketARN + "/" + guard.CensusRecordKey

var censusPrefix = path.Dir(guard.CensusRecordKey) + "/"

// grantManifest lets the function write its manifest objects and read
// them back to verify them, and overwrite the census record. It never
// lists or deletes: listing is the operator's CLI's job, with the
// operator's credentials.
func grantManifest(role awsiam.Role) {
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("RecordTheNewestCensus"),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings("s3:PutObject"),
		Resources: jsii.Strings(resolvePseudo(CensusObject)),
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteAndVerifyTheRestoreManifest"),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings("s3:PutObject", "s3:GetObject"),
		Resources: jsii.Strings(resolvePseudo(ManifestObjects)),
	}))
	suppress(role, iamWildcards, "restore manifest: one object per trip, sweep, region and kind, named at trip time, under trips/ of the switch's own bucket",
		Suppression{Rule: iamWildcards, Resource: ManifestObjects}.AppliesTo())
}
