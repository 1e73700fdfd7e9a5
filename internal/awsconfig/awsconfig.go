// Package awsconfig builds the one aws.Config the kill switch uses, tuned
// for the worst day: adaptive retries for throttling and bounded timeouts so
// a dead regional endpoint fails instead of hanging.
package awsconfig

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
)

// Options tune the retry and timeout behaviour; zero values take defaults.
type Options struct {
	// MaxAttempts per API call, first try included (default 10). Throttling
	// is the normal state of a busy account, and giving up on it leaves
	// instances running.
	MaxAttempts int
	// MaxBackoff caps the wait between attempts (default 5s).
	MaxBackoff time.Duration
	// AttemptTimeout bounds one HTTP attempt (default 20s).
	AttemptTimeout time.Duration
	// DialTimeout bounds opening a connection (default 3s).
	DialTimeout time.Duration
}

// Load reads the standard chain (environment, shared files, Lambda role),
// honouring AWS_REGION and AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>.
func Load(ctx context.Context, o Options, extra ...func(*config.LoadOptions) error) (aws.Config, error) {
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Second
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 20 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 3 * time.Second
	}
	httpClient := awshttp.NewBuildableClient().
		WithTimeout(o.AttemptTimeout).
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = o.DialTimeout }).
		WithTransportOptions(func(t *http.Transport) { t.MaxIdleConnsPerHost = 64 })
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryer(func() aws.Retryer {
			// A fresh retryer per client: each region is its own throttling
			// bucket in EC2, and adaptive mode learns its rate per client.
			return retry.NewAdaptiveMode(func(am *retry.AdaptiveModeOptions) {
				am.StandardOptions = append(am.StandardOptions, func(so *retry.StandardOptions) {
					so.MaxAttempts = o.MaxAttempts
					so.MaxBackoff = o.MaxBackoff
					// The default retry quota stops retrying after a burst of
					// failures; a kill switch must keep trying until the
					// attempts run out.
					so.RateLimiter = ratelimit.None
				})
			})
		}),
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(opts, extra...)...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("loading AWS configuration: no region set (AWS_REGION)")
	}
	return cfg, nil
}
