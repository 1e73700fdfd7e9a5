package notify_test

import (
	"strings"
	"testing"

	"github.com/killswitch/killswitch/internal/engine"
	"github.com/killswitch/killswitch/internal/notify"
)

// The report names the restore manifest and how to restore from it; when
// the manifest could not be written it says loudly that the restore will
// be manual, and why. A dry run writes no manifest and says nothing of it.
func TestReportNamesTheManifest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		rep         engine.Report
		want, avoid []string
	}{
		{"written", engine.Report{Manifest: "s3://b/trips/trip-1/"},
			[]string{"IF THIS WAS A FALSE ALARM", "s3://b/trips/trip-1/", "killswitch restore --latest"}, []string{"RESTORE WILL BE MANUAL"}},
		{"failed", engine.Report{Manifest: "s3://b/trips/trip-1/", ManifestError: "writing s3://b/x: AccessDenied"},
			[]string{"RESTORE WILL BE MANUAL", "AccessDenied", "containment went ahead"}, nil},
		{"dry run", engine.Report{DryRun: true, Manifest: "s3://b/trips/trip-1/", ManifestError: "x"},
			nil, []string{"RESTORE WILL BE MANUAL", "FALSE ALARM"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep := tc.rep
			rep.Retally()
			body := notify.ForReport(notify.Context{}, &rep).Body
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("body lacks %q:\n%s", w, body)
				}
			}
			for _, a := range tc.avoid {
				if strings.Contains(body, a) {
					t.Errorf("body has %q:\n%s", a, body)
				}
			}
		})
	}
}
