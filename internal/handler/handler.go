// Package handler is the Lambda's entry point behind lambda.Start: it reads
// the trigger, decides, sweeps, and tells the owner.
package handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/killswitch/killswitch/internal/census"
	"github.com/killswitch/killswitch/internal/disarmproof"
	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/latch"
	"github.com/killswitch/killswitch/internal/metrics"
	"github.com/killswitch/killswitch/internal/notify"
	"github.com/killswitch/killswitch/internal/selftest"
	"github.com/killswitch/killswitch/internal/settings"
	"github.com/killswitch/killswitch/internal/trigger"
)

// Censuser takes the live-usage census.
type Censuser interface {
	Take(ctx context.Context) *census.Census
}

// CensusRecorder keeps the newest census where `killswitch status` reads
// it.
type CensusRecorder interface {
	SaveCensus(ctx context.Context, c *census.Census, everyMinutes int) error
}

// SelfTester proves the switch can still act.
type SelfTester interface {
	Run(ctx context.Context) selftest.Result
}

// SourceCensus marks a trip by the census's caps in the result.
const SourceCensus trigger.Source = "census"

// Sweeper contains the account.
type Sweeper interface {
	Run(ctx context.Context, p engine.Policy) *engine.Report
}

// Publisher sends the owner a message.
type Publisher interface {
	Publish(ctx context.Context, m notify.Message) error
}

var (
	_ Sweeper   = (*engine.Engine)(nil)
	_ Publisher = (*notify.SNS)(nil)
)

// Config is what the handler itself needs from the settings.
type Config struct {
	// Policy applies to every kind; a manual invoke may add a dry run.
	Policy engine.Policy
	// PolicyLine describes the owner's choices in the report.
	PolicyLine string
	// TripOnForecast lets a FORECASTED budget alert act.
	TripOnForecast bool
	// BudgetName and AlarmName are the stack's own budget and alarm: an
	// alert from any other one does not act (empty: any name).
	BudgetName string
	AlarmName  string
	// DeadlineReserve is kept back from the Lambda deadline to publish a
	// partial report.
	DeadlineReserve time.Duration
	// Latch keeps the switch tripped between invokes; nil means none is
	// configured, and a trip then sweeps once.
	Latch latch.Store
	// ResweepMinutes is the schedule's interval, for the report.
	ResweepMinutes int
	// FunctionName is how the report tells the owner to disarm, and Region
	// the function's own region, where the disarm commands must go.
	FunctionName string
	Region       string
	// DisarmKeyARN is the KMS HMAC key a disarm's proof is made with, and
	// DisarmKMS verifies it (kms:VerifyMac). Either unset: no disarm can
	// prove itself, so every disarm of a tripped switch is refused.
	DisarmKeyARN string
	DisarmKMS    disarmproof.Verifier
	// Journal opens the restore manifest of one sweep: trip is when the
	// switch tripped (the latch's Since), so re-sweeps join their trip's
	// manifest; sweep is when this sweep started. Nil means no manifest is
	// configured, and the report says the restore will be manual.
	Journal func(trip, sweep time.Time) engine.Journal
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Census is taken on every scheduled run while the latch is not
	// tripped, and Caps decide whether it trips; nil: no census.
	Census Censuser
	Caps   census.Caps
	// CensusLog records each census for the operator; nil: not recorded.
	CensusLog CensusRecorder
	// SelfTest runs on the first scheduled run of each day while the latch
	// is not tripped; nil: none.
	SelfTest SelfTester
	// Metrics receives the run's metrics (embedded metric format, on the
	// function's stdout); nil: none are written.
	Metrics *metrics.Writer
}

// Handler handles one Lambda invoke.
type Handler struct {
	sweeper   Sweeper
	publisher Publisher // nil: the report is only logged
	cfg       Config
	log       *slog.Logger
}

func New(sw Sweeper, pub Publisher, cfg Config, log *slog.Logger) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FunctionName == "" {
		cfg.FunctionName = "killswitch"
	}
	return &Handler{sweeper: sw, publisher: pub, cfg: cfg, log: log}
}

// Result is the handler's JSON result.
type Result struct {
	Tripped  bool           `json:"tripped"`
	Triggers []TriggerLine  `json:"triggers"`
	Report   *engine.Report `json:"report,omitempty"`
	// Notified says whether the message reached the notify topic.
	Notified    bool   `json:"notified"`
	NotifyError string `json:"notifyError,omitempty"`
	// Latch is the latch after this invoke, when one is configured.
	Latch *latch.State `json:"latch,omitempty"`
	// RelaunchCaught is set when a scheduled re-sweep contained something.
	RelaunchCaught bool `json:"relaunchCaught,omitempty"`
	// Census is the scheduled run's census, and Breaches the caps it
	// exceeded (each one trips).
	Census   *census.Census  `json:"census,omitempty"`
	Breaches []census.Breach `json:"breaches,omitempty"`
	// SelfTest is the day's self-test, when this run took it.
	SelfTest *selftest.Result `json:"selfTest,omitempty"`
	// DisarmRefused says why a disarm was refused; empty when it was not.
	DisarmRefused string `json:"disarmRefused,omitempty"`
}

// TriggerLine is one classified trigger record.
type TriggerLine struct {
	Source  trigger.Source `json:"source"`
	Trips   bool           `json:"trips"`
	Summary string         `json:"summary"`
	Subject string         `json:"subject,omitempty"`
	Problem string         `json:"problem,omitempty"`
}

// handle classifies the event and, if it trips, contains the account. It
// returns an error when containment is incomplete or the owner could not be
// told, so that Lambda's async retry runs it again (the sweep is idempotent)
// and, after the last retry, the on-failure destination fires.
func (h *Handler) handle(ctx context.Context, event json.RawMessage) (*Result, error) {
	signals := trigger.Parse(event, trigger.Options{
		TripOnForecast: h.cfg.TripOnForecast, BudgetName: h.cfg.BudgetName, AlarmName: h.cfg.AlarmName,
	})
	res := &Result{Tripped: trigger.AnyTrips(signals)}
	for _, s := range signals {
		res.Triggers = append(res.Triggers, TriggerLine{Source: s.Source, Trips: s.Trips, Summary: s.Summary, Subject: s.Subject, Problem: s.Problem})
		attrs := []any{"source", s.Source, "trips", s.Trips, "summary", s.Summary, "subject", s.Subject, "message_id", s.MessageID}
		if s.Source == trigger.SourceUnrecognised {
			h.log.Error("unrecognised trigger: no action", append(attrs, "problem", s.Problem)...)
		} else {
			h.log.Info("trigger", attrs...)
		}
	}
	nc := notify.Context{Account: accountOf(ctx, signals), Policy: h.cfg.PolicyLine}
	for _, s := range signals {
		nc.Triggers = append(nc.Triggers, s.Summary)
	}

	switch {
	case hasSource(signals, trigger.SourceDisarm):
		return res, h.disarm(ctx, res, nc, signals)
	case !res.Tripped && hasSource(signals, trigger.SourceSchedule):
		return res, h.scheduled(ctx, res, nc)
	case !res.Tripped:
		return res, h.reportNoAction(ctx, res, nc, signals)
	}

	policy := h.cfg.Policy
	for _, s := range signals {
		// A manual invoke can ask for a dry run; it can never turn off a
		// deploy-time dry run.
		if s.Trips && s.Manual != nil && s.Manual.DryRun {
			policy.DryRun = true
		}
	}
	now := h.cfg.Now().UTC()
	policy = h.withJournal(policy, h.tripSince(ctx, now), now)
	rep := h.sweep(ctx, res, policy)
	sweepErr := rep.Err()
	// The latch is set after the sweep, not before, so a sweep is never
	// delayed by it; a dry run never sets it. It records now as the trip's
	// time, the time the manifest is filed under.
	latchErr := h.setLatch(ctx, res, signals, policy.DryRun, now)
	if res.Latch != nil && res.Latch.Tripped {
		nc.Latch = h.latchLines(*res.Latch)
	} else if latchErr != nil {
		nc.Latch = []string{"The latch could NOT be set, so the switch will not re-sweep on its schedule: " + latchErr.Error()}
	}

	pubErr := h.publish(ctx, res, notify.ForReport(nc, rep))
	return res, errors.Join(sweepErr, latchErr, pubErr)
}

// sweep runs the engine inside the deadline reserve and logs the report.
func (h *Handler) sweep(ctx context.Context, res *Result, policy engine.Policy) *engine.Report {
	sweepCtx, cancel := h.sweepContext(ctx)
	defer cancel()
	rep := h.sweeper.Run(sweepCtx, policy)
	res.Report = rep
	if !rep.DryRun && policy.Journal == nil && rep.Totals.Changed > 0 {
		rep.ManifestError = "no restore manifest is configured (" + settings.EnvManifestBucket + "), so the restore will be manual: this report lists each change with its prior state"
	}
	h.log.Log(ctx, levelFor(rep.Err()), "sweep finished",
		"dry_run", rep.DryRun, "totals", rep.Totals,
		"failed_regions", rep.FailedRegions(), "duration_ms", rep.FinishedAt.Sub(rep.StartedAt).Milliseconds())
	h.logReport(rep)
	return rep
}

// setLatch records the trip, so the schedule keeps re-sweeping.
func (h *Handler) setLatch(ctx context.Context, res *Result, signals []trigger.Signal, dryRun bool, now time.Time) error {
	if h.cfg.Latch == nil || dryRun {
		return nil
	}
	st, err := h.cfg.Latch.Load(ctx)
	if err != nil {
		// Trip anyway: a latch that cannot be read must not keep the
		// switch from holding.
		h.log.Error("could not read the latch; setting it afresh", "error", err)
		st = latch.State{}
	}
	var why []string
	for _, s := range signals {
		if s.Trips {
			why = append(why, s.Summary)
		}
	}
	st = st.Trip(now, strings.Join(why, "; "))
	if err := h.cfg.Latch.Save(ctx, st); err != nil {
		h.log.Error("could not set the latch: the switch will not re-sweep", "error", err)
		return err
	}
	res.Latch = &st
	h.log.Info("latch set", "latch", st)
	return nil
}

// tripSince is when the switch tripped: the latch's Since if it is already
// tripped, else now (which setLatch then records). A latch that cannot be
// read costs the manifest only its grouping: this sweep files under now.
func (h *Handler) tripSince(ctx context.Context, now time.Time) time.Time {
	if h.cfg.Latch == nil {
		return now
	}
	// The sweep waits for this read: a slow SSM costs the manifest its
	// grouping at worst, never the containment its seconds.
	ctx, cancel := context.WithTimeout(ctx, tripSinceTimeout)
	defer cancel()
	st, err := h.cfg.Latch.Load(ctx)
	if err != nil || !st.Tripped {
		return now
	}
	return st.Since
}

// tripSinceTimeout bounds the latch read before a sweep.
const tripSinceTimeout = 3 * time.Second

// withJournal gives the sweep its restore manifest.
func (h *Handler) withJournal(p engine.Policy, trip, sweep time.Time) engine.Policy {
	if h.cfg.Journal != nil && !p.DryRun {
		p.Journal = h.cfg.Journal(trip, sweep)
	}
	return p
}

// latchLines tell the owner that the switch holds, and how to disarm it.
func (h *Handler) latchLines(st latch.State) []string {
	return append([]string{
		fmt.Sprintf("The switch stays TRIPPED (since %s) and sweeps every region again every %d minute(s),",
			st.Since.Format("2006-01-02 15:04 UTC"), h.cfg.ResweepMinutes),
		"containing anything started again, until you disarm it. Disarming undoes nothing.",
	}, h.disarmHow(st)...)
}

// disarmHow says how to disarm: as a break-glass principal or the root
// user, who alone may make the proof (the disarm key's MAC over the account
// and this trip), with the CLI or with the two AWS CLI commands it runs.
func (h *Handler) disarmHow(st latch.State) []string {
	region := h.cfg.Region
	if region == "" {
		region = "REGION"
	}
	account, err := disarmproof.AccountOfKey(h.cfg.DisarmKeyARN)
	if err != nil {
		return []string{
			"To disarm: no disarm key is configured (" + settings.EnvDisarmKeyARN + "), so no disarm can prove itself and every disarm is",
			"refused. Deploy the stack (it creates the key), then, as a break-glass principal or the root user:",
			fmt.Sprintf(`  killswitch disarm --region %s --reason "why"`, region),
		}
	}
	trip := disarmproof.Stamp(st.Since)
	return []string{
		"To disarm, as a break-glass principal or the root user (no one else can make the disarm proof):",
		fmt.Sprintf(`  killswitch disarm --region %s --reason "why"`, region),
		"or with the AWS CLI (the proof is good for 15 minutes and for this trip only):",
		`  ISSUED=$(date -u +%Y-%m-%dT%H:%M:%SZ)`,
		fmt.Sprintf(`  printf '%%s' "%s account=%s trip=%s issued=$ISSUED" > disarm-message.txt`, disarmproof.Version, account, trip),
		fmt.Sprintf(`  MAC=$(aws kms generate-mac --region %s --key-id %s --mac-algorithm %s \`, region, h.cfg.DisarmKeyARN, disarmproof.Algorithm),
		`    --message fileb://disarm-message.txt --query Mac --output text)`,
		fmt.Sprintf(`  aws lambda invoke --region %s --function-name %s --cli-binary-format raw-in-base64-out \`, region, h.cfg.FunctionName),
		fmt.Sprintf(`    --payload '{"killswitch":"disarm","reason":"why","proof":{"trip":"%s","issuedAt":"'"$ISSUED"'","mac":"'"$MAC"'"}}' out.json`, trip),
	}
}

// scheduled is the schedule's invoke: while the latch is tripped it sweeps
// again with the same policy, reporting at once what it caught; otherwise
// it does nothing.
func (h *Handler) scheduled(ctx context.Context, res *Result, nc notify.Context) error {
	if h.cfg.Latch == nil {
		h.log.Info("scheduled run: no latch configured, nothing to do")
		return nil
	}
	st, err := h.cfg.Latch.Load(ctx)
	if err != nil {
		// Fail loudly: a latch nobody can read is a switch that may have
		// stopped holding.
		h.log.Error("scheduled run: could not read the latch", "error", err)
		return err
	}
	res.Latch = &st
	if !st.Tripped {
		return h.armed(ctx, res, nc, st)
	}
	rep := h.sweep(ctx, res, h.withJournal(h.cfg.Policy, st.Since, h.cfg.Now().UTC()))
	caught := rep.Totals.Changed
	now := h.cfg.Now().UTC()
	st = st.Resweep(now, caught)
	res.RelaunchCaught = caught > 0

	var pubErr error
	switch {
	case caught > 0 || rep.Err() != nil:
		nc.Resweep = true
		nc.Triggers = []string{fmt.Sprintf("scheduled re-sweep #%d; tripped since %s by: %s",
			st.Resweeps, st.Since.Format("2006-01-02 15:04 UTC"), st.Reason)}
		nc.Latch = h.latchLines(st)
		pubErr = h.publish(ctx, res, notify.ForReport(nc, rep))
	case st.DigestDue(now):
		st.LastDigest = now
		pubErr = h.publish(ctx, res, notify.ForDigest(nc, notify.Digest{
			Since: st.Since, Reason: st.Reason, Resweeps: st.Resweeps, Relaunches: st.Relaunches,
		}, h.latchLines(st)))
	default:
		h.log.Info("scheduled re-sweep: nothing new", "resweeps", st.Resweeps)
	}
	saveErr := h.cfg.Latch.Save(ctx, st)
	if saveErr != nil {
		h.log.Error("could not update the latch", "error", saveErr)
	}
	res.Latch = &st
	return errors.Join(rep.Err(), pubErr, saveErr)
}

// disarm clears the latch at the owner's direct request, once the
// request has proved itself (checkProof). It undoes nothing.
//
// A refused disarm leaves the latch untouched and tells the owner what was
// refused and why. It returns no error: a refusal is not transient, and
// Lambda's retries of an async invoke would only repeat it (and the
// notice). Only a KMS that could not answer returns an error, so that a
// retry may succeed and the function's error alarm shows it.
func (h *Handler) disarm(ctx context.Context, res *Result, nc notify.Context, signals []trigger.Signal) error {
	if h.cfg.Latch == nil {
		return errors.New("disarm: no latch is configured (KILLSWITCH_LATCH_PARAMETER), so there is nothing to disarm")
	}
	st, err := h.cfg.Latch.Load(ctx)
	if err != nil {
		return fmt.Errorf("disarm: %w", err)
	}
	res.Latch = &st
	var m trigger.ManualInvoke
	for _, s := range signals {
		if s.Source == trigger.SourceDisarm && s.Manual != nil {
			m = *s.Manual
		}
	}
	if !st.Tripped {
		// Nothing to change, so nothing is written: an invoke that proved
		// nothing must not write the latch.
		h.log.Info("disarm: the switch was not tripped; nothing changed", "reason", m.Reason)
		return h.publish(ctx, res, notify.ForDisarm(nc, notify.Digest{}, false, m.Reason))
	}
	was := digestOf(st)
	refusal, kmsErr := h.checkProof(ctx, st, m.Proof)
	if refusal != "" {
		res.DisarmRefused = refusal
		h.log.Warn("disarm REFUSED: the switch stays tripped", "why", refusal, "reason", m.Reason, "kms_error", kmsErr)
		pubErr := h.publish(ctx, res, notify.ForRefusedDisarm(nc, was, m.Reason, refusal, h.disarmHow(st)))
		return errors.Join(kmsErr, pubErr)
	}
	st = st.Disarm(h.cfg.Now().UTC(), m.Reason)
	if err := h.cfg.Latch.Save(ctx, st); err != nil {
		return fmt.Errorf("disarm: %w", err)
	}
	res.Latch = &st
	h.log.Info("disarmed", "was", was, "reason", m.Reason)
	return h.publish(ctx, res, notify.ForDisarm(nc, was, true, m.Reason))
}

func digestOf(st latch.State) notify.Digest {
	return notify.Digest{Since: st.Since, Reason: st.Reason, Resweeps: st.Resweeps, Relaunches: st.Relaunches}
}

// checkProof says why a disarm of the tripped latch st is refused, or ""
// when its proof holds: a disarm key is configured, the proof is for the
// trip the latch holds, was issued after it and within disarmproof.Window
// of now, and KMS says its MAC is valid. err is set only when KMS could
// not answer.
func (h *Handler) checkProof(ctx context.Context, st latch.State, raw *trigger.DisarmProof) (refusal string, err error) {
	if h.cfg.DisarmKeyARN == "" || h.cfg.DisarmKMS == nil {
		return "no disarm key is configured (" + settings.EnvDisarmKeyARN + "), so no disarm can prove itself", nil
	}
	if raw == nil {
		return "it carried no proof (only a break-glass principal or the root user can make one)", nil
	}
	p, perr := disarmproof.Parse(raw.Trip, raw.IssuedAt, raw.MAC)
	if perr != nil {
		return "its proof is malformed: " + perr.Error(), nil
	}
	now := h.cfg.Now().UTC()
	switch {
	case !p.Trip.Equal(st.Since):
		return fmt.Sprintf("its proof is for another trip (%s), not the one the latch holds (%s)",
			disarmproof.Stamp(p.Trip), disarmproof.Stamp(st.Since)), nil
	case p.IssuedAt.Before(st.Since.Truncate(time.Second)):
		return fmt.Sprintf("its proof was issued (%s) before the trip (%s)", disarmproof.Stamp(p.IssuedAt), disarmproof.Stamp(st.Since)), nil
	case p.IssuedAt.Before(now.Add(-disarmproof.Window)) || p.IssuedAt.After(now.Add(disarmproof.Window)):
		return fmt.Sprintf("its proof has expired: issued %s, and a proof is good only within %s of the function's clock (%s)",
			disarmproof.Stamp(p.IssuedAt), disarmproof.Window, disarmproof.Stamp(now.Truncate(time.Second))), nil
	}
	switch err := disarmproof.Verify(ctx, h.cfg.DisarmKMS, h.cfg.DisarmKeyARN, st.Since, p); {
	case errors.Is(err, disarmproof.ErrInvalidMAC):
		return "its proof's MAC is invalid: it was not made with the disarm key for this account and trip", nil
	case err != nil:
		return "its proof could not be checked, KMS failed: " + err.Error(), err
	}
	return "", nil
}

func hasSource(signals []trigger.Signal, src trigger.Source) bool {
	for _, s := range signals {
		if s.Source == src {
			return true
		}
	}
	return false
}

// outcomesPerLogLine keeps each log line far below CloudWatch Logs' 256 KB
// event limit, prior states included.
const outcomesPerLogLine = 400

// logReport logs the full report, one line per region and kind, with the
// outcomes in chunks: a large attack's whole report would not fit in one
// CloudWatch event.
func (h *Handler) logReport(rep *engine.Report) {
	for _, rr := range rep.Regions {
		if rr.Error != "" {
			h.log.Error("region report", "region", rr.Region, "error", rr.Error, "not_reached", rr.NotReached)
		}
		for _, kr := range rr.Kinds {
			if kr.Found == 0 && kr.Error == "" {
				continue
			}
			head := kr
			head.Outcomes = nil
			h.log.Info("region report", "region", rr.Region, "kind", kr.Kind, "report", head)
			for start := 0; start < len(kr.Outcomes); start += outcomesPerLogLine {
				end := min(start+outcomesPerLogLine, len(kr.Outcomes))
				h.log.Info("region outcomes", "region", rr.Region, "kind", kr.Kind,
					"first", start, "outcomes", kr.Outcomes[start:end])
			}
		}
	}
}

// reportNoAction tells the owner about a trigger that does not act, except
// a CloudWatch alarm going back to OK, which is routine.
func (h *Handler) reportNoAction(ctx context.Context, res *Result, nc notify.Context, signals []trigger.Signal) error {
	headline := ""
	for _, s := range signals {
		switch {
		case s.Source == trigger.SourceUnrecognised:
			headline = "unrecognised trigger, no action taken"
		case s.Source == trigger.SourceBudget && headline == "":
			headline = "budget alert received, no action taken"
		}
	}
	if headline == "" {
		return nil
	}
	return h.publish(ctx, res, notify.ForNoAction(nc, headline))
}

func (h *Handler) publish(ctx context.Context, res *Result, m notify.Message) error {
	if h.publisher == nil {
		h.log.Warn("no notify topic set (KILLSWITCH_NOTIFY_TOPIC_ARN): report only logged",
			"subject", m.Subject, "body", m.Body)
		return nil
	}
	if err := h.publisher.Publish(ctx, m); err != nil {
		res.NotifyError = err.Error()
		h.log.Error("could not notify the owner", "error", err, "subject", m.Subject, "body", m.Body)
		return err
	}
	res.Notified = true
	h.log.Info("owner notified", "subject", m.Subject)
	return nil
}

// sweepContext keeps back part of the Lambda deadline, so that a sweep cut
// short still leaves time to publish a partial report.
func (h *Handler) sweepContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	reserve := h.cfg.DeadlineReserve
	if left := time.Until(deadline); reserve > left/4 {
		// A short deadline still sweeps for most of it.
		reserve = left / 4
	}
	return context.WithDeadline(ctx, deadline.Add(-reserve))
}

func levelFor(err error) slog.Level {
	if err != nil {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// accountOf finds the account ID without an API call: from the invoked
// function's ARN, or else from the trigger itself.
func accountOf(ctx context.Context, signals []trigger.Signal) string {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		if parts := strings.Split(lc.InvokedFunctionArn, ":"); len(parts) > 4 && parts[4] != "" {
			return parts[4]
		}
	}
	for _, s := range signals {
		switch {
		case s.Budget != nil && s.Budget.Account != "":
			return s.Budget.Account
		case s.Alarm != nil && s.Alarm.Account != "":
			return s.Alarm.Account
		}
	}
	return ""
}

// ErrInvalidSettings wraps a configuration that cannot be run.
var ErrInvalidSettings = errors.New("killswitch cannot run")

// Refuse is the handler used when the settings are invalid: every invoke
// fails loudly, so the on-failure destination tells the owner.
func Refuse(err error, log *slog.Logger) func(context.Context, json.RawMessage) (*Result, error) {
	return func(ctx context.Context, _ json.RawMessage) (*Result, error) {
		log.Error("refusing to run: invalid settings", "error", err)
		return nil, fmt.Errorf("%w: %w", ErrInvalidSettings, err)
	}
}
