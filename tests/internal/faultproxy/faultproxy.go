// Package faultproxy is a fault-injecting HTTP proxy for tests and
// benchmarks only. It sits in front of moto and, for the calls it is told
// to touch (EC2 by default), adds latency, answers RequestLimitExceeded in
// EC2's own XML error format for a chosen fraction of calls, and makes
// chosen regions hang or drop their connections.
//
// By default it also throttles EC2 the way EC2 does (buckets.go): token
// buckets per region and per action class, with EC2's documented bursts
// and refill rates, answering RequestLimitExceeded when a bucket is short.
// moto throttles nothing, so without this no test could see what a real
// account does to a sweep that makes too many mutating calls.
//
// The region and the service come from the SigV4 credential scope of the
// Authorization header (Credential=AKID/20261129/eu-west-1/ec2/aws4_request),
// the operation from the query-protocol body (Action=StopInstances).
//
// Determinism: every random choice (which call is throttled, how much
// jitter) comes from one RNG seeded by Config.Seed and drawn under a lock, so
// the sequence of decisions is fixed. Which call receives which decision
// still depends on the order in which concurrent calls arrive; the counts
// (Stats) are what tests should assert on, and a fraction of 0 or 1 is exact.
//
// Refusing connections: the proxy has one listener for every region, and a
// TCP connection cannot be refused before the request on it says which
// region it is for. So Refuse hijacks the connection (http.Hijacker) and
// closes it with SO_LINGER 0, which sends a TCP RST and no response: the
// client sees "connection reset by peer", the same class of error the SDK
// gets from a refused dial (both are retried as connection errors, and both
// fail the call once the attempts run out). Tests that need a refused dial
// itself can point a region at a closed port instead; the scenarios here
// need only "this region's calls never get an answer from the service".
//
// Hang holds the request, reading nothing back, until the client gives up
// (its attempt timeout or context), the region is healed, or the proxy is
// closed. Held tells a test when a region's first request is being held,
// so it can act on that event (end the region, cut the deadline) instead of
// sleeping for a duration a loaded machine may overrun.
package faultproxy

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Mode is what the proxy does to one region's calls.
type Mode int

const (
	Healthy Mode = iota // forwarded (after latency and throttling)
	Hang                // held without an answer until the client gives up
	Refuse              // connection closed with a TCP RST, no response
)

func (m Mode) String() string {
	switch m {
	case Hang:
		return "hang"
	case Refuse:
		return "refuse"
	}
	return "healthy"
}

// Config sets the proxy's faults. Zero values inject nothing.
type Config struct {
	// Target is the upstream, e.g. moto's URL.
	Target string
	// Seed seeds the RNG behind throttling and jitter.
	Seed uint64
	// Latency is added to every call of a faulted service before it is
	// answered; Jitter adds a uniform random extra in [0, Jitter).
	Latency, Jitter time.Duration
	// ThrottleFraction of faulted calls (0..1) are answered with HTTP 503
	// RequestLimitExceeded instead of being forwarded. Every attempt is a
	// call: a retried request is drawn again.
	ThrottleFraction float64
	// MaxThrottlesPerCall, when above 0, stops ThrottleFraction from
	// throttling one SDK call (its attempts share the amz-sdk-invocation-id
	// header) more than this many times. At 30% a call fails all 10 of the
	// SDK's attempts once in about 170,000 calls: rare for one call, but a
	// sweep of 38 regions makes thousands, so a test asserting "nothing
	// failed" would fail now and then for that tail alone. The cap removes
	// only the tail; the throttled share is unchanged.
	MaxThrottlesPerCall int
	// Services lists the SigV4 service names faults apply to (lower case,
	// as in the credential scope); nil means only "ec2".
	Services []string
	// Regions sets a mode per region; missing regions get Others.
	Regions map[string]Mode
	// Others is the mode of every region Regions does not name (Healthy
	// unless set): Hang here with one region Healthy holds every region
	// but that one, whatever list the sweep ends up with.
	Others Mode
	// NoRateLimits turns off EC2's token buckets (on by default).
	NoRateLimits bool
	// Buckets replaces EC2Buckets, class by class (nil: EC2's own).
	Buckets map[string]Bucket
	// Now is the buckets' clock (nil: time.Now).
	Now func() time.Time
	// FailOperations answers every call of the named EC2 operations (e.g.
	// "DescribeInstanceTypes") with HTTP 400 and the given EC2 error code
	// (e.g. "UnauthorizedOperation"), in every region, instead of
	// forwarding it.
	FailOperations map[string]string
	// IAMPolicyQuota, when above 0, enforces IAM's quota of managed
	// policies per user, group or role, which moto does not (iamquota.go):
	// an attach past it is answered LimitExceeded. It applies whatever
	// Services says.
	IAMPolicyQuota int
}

// Key names one operation in one region of one service.
type Key struct{ Service, Region, Operation string }

// Counts is what the proxy did to one Key's calls.
type Counts struct {
	Requests  int // every HTTP request seen
	Forwarded int // passed on to the target
	Throttled int // answered RequestLimitExceeded by ThrottleFraction
	// Limited were answered RequestLimitExceeded because EC2's token
	// bucket for the call was short.
	Limited int
	Refused int // connection reset without a response
	Hung    int // held until the client gave up or the region healed
	Failed  int // answered with a FailOperations error
	// OverQuota were attaches answered LimitExceeded by IAMPolicyQuota.
	OverQuota int
	// Upstream is the time the target (moto) took to answer the forwarded
	// requests, summed: the service time the injected latency adds to.
	Upstream time.Duration
}

func (c *Counts) add(o Counts) {
	c.Requests += o.Requests
	c.Forwarded += o.Forwarded
	c.Throttled += o.Throttled
	c.Limited += o.Limited
	c.Refused += o.Refused
	c.Hung += o.Hung
	c.Failed += o.Failed
	c.OverQuota += o.OverQuota
	c.Upstream += o.Upstream
}

// Proxy is a running fault proxy on a loopback port.
type Proxy struct {
	URL string

	srv      *http.Server
	upstream *httputil.ReverseProxy
	closed   chan struct{}

	mu       sync.Mutex
	cfg      Config
	services map[string]bool
	rng      *rand.Rand
	limits   *limiter      // nil: no rate limits
	healed   chan struct{} // closed and replaced whenever a region's mode changes
	counts   map[Key]*Counts
	held     map[string]chan struct{} // closed when a region's first request is held
	// throttledCalls counts ThrottleFraction's throttles per SDK call
	// (invocation ID), for MaxThrottlesPerCall.
	throttledCalls map[string]int
}

// Start listens on a free loopback port and serves until Close.
func Start(cfg Config) (*Proxy, error) {
	target, err := url.Parse(cfg.Target)
	if err != nil || target.Host == "" {
		return nil, fmt.Errorf("faultproxy: bad target %q: %v", cfg.Target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listening: %w", err)
	}
	p := &Proxy{
		URL:    "http://" + ln.Addr().String(),
		closed: make(chan struct{}),
		healed: make(chan struct{}),
		counts: map[Key]*Counts{},
		held:   map[string]chan struct{}{},

		throttledCalls: map[string]int{},
	}
	p.configure(cfg)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     30 * time.Second,
	}
	rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		// The client went away (or moto did): nothing useful to send.
		w.WriteHeader(http.StatusBadGateway)
	}
	p.upstream = rp
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *Proxy) configure(cfg Config) {
	p.cfg = cfg
	if p.cfg.Regions == nil {
		p.cfg.Regions = map[string]Mode{}
	} else {
		regions := make(map[string]Mode, len(cfg.Regions))
		for r, m := range cfg.Regions {
			regions[r] = m
		}
		p.cfg.Regions = regions
	}
	p.services = map[string]bool{}
	services := cfg.Services
	if services == nil {
		services = []string{"ec2"}
	}
	for _, s := range services {
		p.services[strings.ToLower(s)] = true
	}
	p.rng = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	p.limits = nil
	if !cfg.NoRateLimits {
		specs := map[string]Bucket{}
		for k, v := range EC2Buckets {
			specs[k] = v
		}
		for k, v := range cfg.Buckets {
			specs[k] = v
		}
		p.limits = newLimiter(specs, cfg.Now)
	}
}

// Reconfigure replaces the whole fault configuration (the target stays) and
// reseeds the RNG; requests held by Hang are released if their region is no
// longer hanging. Counts are kept; call ResetCounts to clear them.
func (p *Proxy) Reconfigure(cfg Config) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cfg.Target = p.cfg.Target
	p.configure(cfg)
	p.wakeLocked()
}

// SetRegion sets one region's mode, e.g. Healthy to heal a dead region
// before Lambda's retry.
func (p *Proxy) SetRegion(region string, m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.Regions[region] = m
	p.wakeLocked()
}

// SetLatency changes the injected latency and jitter.
func (p *Proxy) SetLatency(latency, jitter time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.Latency, p.cfg.Jitter = latency, jitter
}

// SetThrottle changes the throttled fraction.
func (p *Proxy) SetThrottle(fraction float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cfg.ThrottleFraction = fraction
}

func (p *Proxy) wakeLocked() {
	close(p.healed)
	p.healed = make(chan struct{})
}

// Close stops the proxy and releases every hanging request.
func (p *Proxy) Close() {
	select {
	case <-p.closed:
		return
	default:
	}
	close(p.closed)
	_ = p.srv.Close()
}

var scopeRE = regexp.MustCompile(`Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/([a-z0-9-]+)/aws4_request`)

// Scope reads the region and service from a SigV4 Authorization header.
func Scope(authorization string) (region, service string, ok bool) {
	m := scopeRE.FindStringSubmatch(authorization)
	if m == nil {
		return "", "", false
	}
	return m[1], m[2], true
}

func operation(r *http.Request, body []byte) string {
	if a := r.URL.Query().Get("Action"); a != "" {
		return a
	}
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		if i := strings.LastIndexByte(t, '.'); i >= 0 {
			return t[i+1:]
		}
		return t
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		if v, err := url.ParseQuery(string(body)); err == nil {
			return v.Get("Action")
		}
	}
	return ""
}

// decision is what happens to one call, drawn under the lock.
type decision struct {
	faulted  bool
	mode     Mode
	delay    time.Duration
	throttle bool
	healed   chan struct{}
	limits   *limiter
}

func (p *Proxy) decide(region, service, invocation string) decision {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.services[service] {
		return decision{}
	}
	d := decision{faulted: true, mode: p.modeLocked(region), delay: p.cfg.Latency, healed: p.healed}
	if service == "ec2" {
		d.limits = p.limits
	}
	if p.cfg.Jitter > 0 {
		d.delay += time.Duration(p.rng.Int64N(int64(p.cfg.Jitter)))
	}
	if f := p.cfg.ThrottleFraction; f > 0 && (f >= 1 || p.rng.Float64() < f) {
		d.throttle = true
		if limit := p.cfg.MaxThrottlesPerCall; limit > 0 && invocation != "" {
			if p.throttledCalls[invocation] >= limit {
				d.throttle = false
			} else {
				p.throttledCalls[invocation]++
			}
		}
	}
	return d
}

func (p *Proxy) modeOf(region string) Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.modeLocked(region)
}

func (p *Proxy) modeLocked(region string) Mode {
	if m, ok := p.cfg.Regions[region]; ok {
		return m
	}
	return p.cfg.Others
}

// Held is closed once a request of region's is held by Hang (and stays
// closed): the region's sweep has started and is waiting on the proxy.
func (p *Proxy) Held(region string) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.heldLocked(region)
}

func (p *Proxy) heldLocked(region string) chan struct{} {
	ch := p.held[region]
	if ch == nil {
		ch = make(chan struct{})
		p.held[region] = ch
	}
	return ch
}

func (p *Proxy) markHeld(region string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.heldLocked(region)
	select {
	case <-ch:
	default:
		close(ch)
	}
}

func (p *Proxy) count(k Key, c Counts) {
	p.mu.Lock()
	defer p.mu.Unlock()
	cur := p.counts[k]
	if cur == nil {
		cur = &Counts{}
		p.counts[k] = cur
	}
	cur.add(c)
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	region, service, _ := Scope(r.Header.Get("Authorization"))
	key := Key{Service: service, Region: region, Operation: operation(r, body)}
	if p.overIAMQuota(w, r, key, body) {
		return
	}
	d := p.decide(region, service, r.Header.Get("Amz-Sdk-Invocation-Id"))
	if !d.faulted {
		p.count(key, Counts{Requests: 1})
		p.forward(w, r, key)
		return
	}

	switch d.mode {
	case Hang:
		p.count(key, Counts{Requests: 1, Hung: 1})
		p.markHeld(region)
		// Hold until the client gives up, the proxy closes, or the region
		// stops hanging (then the call goes on as a healthy one would).
		for p.modeOf(region) == Hang {
			select {
			case <-r.Context().Done():
				return
			case <-p.closed:
				return
			case <-d.healed:
				p.mu.Lock()
				d.healed = p.healed
				p.mu.Unlock()
			}
		}
	case Refuse:
		p.count(key, Counts{Requests: 1, Refused: 1})
		reset(w)
		return
	default:
		p.count(key, Counts{Requests: 1})
	}

	if d.delay > 0 {
		t := time.NewTimer(d.delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-p.closed:
			t.Stop()
			return
		}
	}
	if d.throttle {
		p.count(key, Counts{Throttled: 1})
		writeThrottle(w)
		return
	}
	if code := p.failCode(key.Operation); code != "" {
		p.count(key, Counts{Failed: 1})
		writeEC2Error(w, http.StatusBadRequest, code, "faultproxy: "+key.Operation+" fails")
		return
	}
	if d.limits != nil && !d.limits.allow(region, key.Operation, form(r, body)) {
		p.count(key, Counts{Limited: 1})
		writeThrottle(w)
		return
	}
	p.forward(w, r, key)
}

// form is the query-protocol parameters of an EC2 call.
func form(r *http.Request, body []byte) url.Values {
	v, err := url.ParseQuery(string(body))
	if err != nil || len(v) == 0 {
		return r.URL.Query()
	}
	return v
}

func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, key Key) {
	start := time.Now()
	p.upstream.ServeHTTP(w, r)
	p.count(key, Counts{Forwarded: 1, Upstream: time.Since(start)})
}

// reset closes the client's connection with an RST and no response.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("faultproxy: the response writer cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

var requestSeq struct {
	sync.Mutex
	n uint64
}

// ThrottleBody is EC2's XML error for RequestLimitExceeded.
func ThrottleBody(requestID string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` +
		`<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors>` +
		`<RequestID>` + requestID + `</RequestID></Response>`
}

func writeThrottle(w http.ResponseWriter) {
	requestSeq.Lock()
	requestSeq.n++
	n := requestSeq.n
	requestSeq.Unlock()
	id := fmt.Sprintf("faultproxy-%012d", n)
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("x-amzn-RequestId", id)
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, ThrottleBody(id))
}

func (p *Proxy) failCode(op string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg.FailOperations[op]
}

// writeEC2Error answers in EC2's XML error format.
func writeEC2Error(w http.ResponseWriter, status int, code, msg string) {
	requestSeq.Lock()
	requestSeq.n++
	id := fmt.Sprintf("faultproxy-%012d", requestSeq.n)
	requestSeq.Unlock()
	w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	w.Header().Set("x-amzn-RequestId", id)
	w.WriteHeader(status)
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>`+code+`</Code><Message>`+msg+
		`</Message></Error></Errors><RequestID>`+id+`</RequestID></Response>`)
}

// Stats is a copy of every count so far.
func (p *Proxy) Stats() map[Key]Counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Key]Counts, len(p.counts))
	for k, c := range p.counts {
		out[k] = *c
	}
	return out
}

// Sum adds up the counts that match service, region and operation; an
// empty field matches any.
func (p *Proxy) Sum(service, region, op string) Counts {
	var total Counts
	for k, c := range p.Stats() {
		if (service == "" || k.Service == service) && (region == "" || k.Region == region) && (op == "" || k.Operation == op) {
			total.add(c)
		}
	}
	return total
}

// ResetCounts forgets every count.
func (p *Proxy) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts = map[Key]*Counts{}
}

// String lists the counts, one key a line, for logs.
func (p *Proxy) String() string {
	stats := p.Stats()
	keys := make([]Key, 0, len(stats))
	for k := range stats {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Region != b.Region {
			return a.Region < b.Region
		}
		return a.Operation < b.Operation
	})
	var b strings.Builder
	for _, k := range keys {
		c := stats[k]
		fmt.Fprintf(&b, "%s %s %s: requests %d forwarded %d throttled %d limited %d refused %d hung %d upstream %v\n",
			k.Service, k.Region, k.Operation, c.Requests, c.Forwarded, c.Throttled, c.Limited, c.Refused, c.Hung, c.Upstream.Round(time.Millisecond))
	}
	return b.String()
}
