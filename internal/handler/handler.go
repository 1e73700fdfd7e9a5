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

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/notify"
	"github.com/killswitch/killswitch/internal/trigger"
)

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
	// DeadlineReserve is kept back from the Lambda deadline to publish a
	// partial report.
	DeadlineReserve time.Duration
}

// Handler handles one Lambda invoke.
type Handler struct {
	sweeper   Sweeper
	publisher Publisher // nil: the report is only logged
	cfg       Config
	log       *slog.Logger
}

func New(sw Sweeper, pub Publisher, cfg Config, log *slog.Logger) *Handler {
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
}

// TriggerLine is one classified trigger record.
type TriggerLine struct {
	Source  trigger.Source `json:"source"`
	Trips   bool           `json:"trips"`
	Summary string         `json:"summary"`
	Subject string         `json:"subject,omitempty"`
	Problem string         `json:"problem,omitempty"`
}

// Handle classifies the event and, if it trips, contains the account. It
// returns an error when containment is incomplete or the owner could not be
// told, so that Lambda's async retry runs it again (the sweep is idempotent)
// and, after the last retry, the on-failure destination fires.
func (h *Handler) Handle(ctx context.Context, event json.RawMessage) (*Result, error) {
	signals := trigger.Parse(event, trigger.Options{TripOnForecast: h.cfg.TripOnForecast})
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

	if !res.Tripped {
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
	sweepCtx, cancel := h.sweepContext(ctx)
	defer cancel()
	rep := h.sweeper.Run(sweepCtx, policy)
	res.Report = rep
	sweepErr := rep.Err()
	h.log.Log(ctx, levelFor(sweepErr), "sweep finished",
		"dry_run", rep.DryRun, "totals", rep.Totals,
		"failed_regions", rep.FailedRegions(), "duration_ms", rep.FinishedAt.Sub(rep.StartedAt).Milliseconds())
	h.logReport(rep)

	pubErr := h.publish(ctx, res, notify.ForReport(nc, rep))
	return res, errors.Join(sweepErr, pubErr)
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
