package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/latch"
)

func TestStatusCensusLine(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	const summary = "2 running instance(s)"
	tests := []struct {
		name string
		st   statusReport
		want string
	}{
		{"none yet", statusReport{CensusRecord: "s3://b/census/latest.json"},
			"Census:      none recorded in s3://b/census/latest.json"},
		{"fresh", statusReport{LastCensus: at, CensusSummary: summary, CensusEveryMinutes: 5},
			"Census:      2026-11-29 10:00:00 UTC: 2 running instance(s)"},
		{"overdue while armed", statusReport{LastCensus: at, CensusSummary: summary, CensusEveryMinutes: 5, CensusOverdue: true},
			"Census:      OVERDUE: the last one ran 2026-11-29 10:00:00 UTC, and the schedule takes one every 5 min"},
		{"before the trip, not overdue", statusReport{LastCensus: at, CensusSummary: summary, CensusEveryMinutes: 5, CensusOverdue: true,
			Latch: &latch.State{Tripped: true, Since: at.Add(time.Hour)}},
			"Census:      2026-11-29 10:00:00 UTC, before the trip"},
		{"unreadable", statusReport{CensusError: "AccessDenied"}, "Census:      UNKNOWN: AccessDenied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.st.Latch == nil {
				tc.st.Latch = &latch.State{}
			}
			var b bytes.Buffer
			writeStatusLines(&b, tc.st)
			if !strings.Contains(b.String(), tc.want) {
				t.Errorf("status lacks %q:\n%s", tc.want, b.String())
			}
		})
	}
}
