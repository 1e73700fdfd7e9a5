package metrics_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/killswitch/killswitch/internal/metrics"
)

var t0 = time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)

func fixed() time.Time { return t0 }

// rawDoc is an EMF line parsed without the package's own decoder, so the
// test holds the writer to the format itself.
type rawDoc struct {
	AWS struct {
		Timestamp         *int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string     `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name string `json:"Name"`
				Unit string `json:"Unit"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	} `json:"_aws"`
}

func TestEmitWritesValidEMF(t *testing.T) {
	t.Parallel()
	region := func(r string) []metrics.Dim { return []metrics.Dim{{Name: metrics.DimRegion, Value: r}} }
	tests := []struct {
		name   string
		record metrics.Record
	}{
		{"account totals, no dimensions", metrics.Record{Values: []metrics.Value{
			{Metric: metrics.RunningInstances, Value: 302}, {Metric: metrics.VCPUs, Value: 2416},
			{Metric: metrics.HourlyBurnUSD, Value: 918.6}, {Metric: metrics.CensusDuration, Value: 1234},
			{Metric: metrics.Tripped, Value: 0}}}},
		{"one region", metrics.Record{Dimensions: region("ap-east-1"), Values: []metrics.Value{
			{Metric: metrics.RegionRunningInstances, Value: 18}, {Metric: metrics.RegionGPUs, Value: 18}}}},
		{"kind and verb", metrics.Record{
			Dimensions: []metrics.Dim{{Name: metrics.DimKind, Value: "EC2 instances"}, {Name: metrics.DimVerb, Value: "scaled to 0"}},
			Values:     []metrics.Value{{Metric: metrics.ContainedByKindVerb, Value: 3}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			n, err := metrics.NewWriter(&buf, fixed).Emit([]metrics.Record{tc.record})
			if err != nil {
				t.Fatal(err)
			}
			if n != buf.Len() || !strings.HasSuffix(buf.String(), "\n") || strings.Count(buf.String(), "\n") != 1 {
				t.Fatalf("want one line of %d bytes, got %q", n, buf.String())
			}
			line := bytes.TrimSpace(buf.Bytes())
			var top map[string]any
			var doc rawDoc
			if err := json.Unmarshal(line, &top); err != nil {
				t.Fatalf("not a JSON object: %v: %s", err, line)
			}
			if err := json.Unmarshal(line, &doc); err != nil {
				t.Fatal(err)
			}
			if doc.AWS.Timestamp == nil || *doc.AWS.Timestamp != t0.UnixMilli() {
				t.Errorf("_aws.Timestamp = %v, want %d", doc.AWS.Timestamp, t0.UnixMilli())
			}
			if len(doc.AWS.CloudWatchMetrics) != 1 {
				t.Fatalf("want one metric directive, got %s", line)
			}
			dir := doc.AWS.CloudWatchMetrics[0]
			if dir.Namespace != metrics.Namespace {
				t.Errorf("Namespace = %q", dir.Namespace)
			}
			var wantDims []string
			for _, d := range tc.record.Dimensions {
				wantDims = append(wantDims, d.Name)
				if top[d.Name] != d.Value {
					t.Errorf("dimension %s = %v at the top level, want %q", d.Name, top[d.Name], d.Value)
				}
			}
			if len(dir.Dimensions) != 1 || !slices.Equal(dir.Dimensions[0], wantDims) {
				t.Errorf("Dimensions = %v, want [%v]", dir.Dimensions, wantDims)
			}
			if len(dir.Metrics) != len(tc.record.Values) {
				t.Fatalf("%d metric definitions, want %d: %s", len(dir.Metrics), len(tc.record.Values), line)
			}
			for i, v := range tc.record.Values {
				if dir.Metrics[i].Name != v.Metric.Name || dir.Metrics[i].Unit != string(v.Metric.Unit) {
					t.Errorf("definition %d = %+v, want %s in %s", i, dir.Metrics[i], v.Metric.Name, v.Metric.Unit)
				}
				if got, ok := top[v.Metric.Name].(float64); !ok || got != v.Value {
					t.Errorf("value of %s = %v, want %v", v.Metric.Name, top[v.Metric.Name], v.Value)
				}
			}

			// And the decoder the integration test uses reads it back whole.
			pts, err := metrics.Decode(line)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range tc.record.Values {
				if !pts[i].Matches(v.Metric) || pts[i].Value != v.Value || !pts[i].Timestamp.Equal(t0) {
					t.Errorf("decoded %+v, want %s = %v", pts[i], v.Metric.ID(), v.Value)
				}
			}
		})
	}
}

// A record that breaks the format is refused whole: CloudWatch would drop
// it, or publish it under the wrong dimensions.
func TestEmitRefusesInvalidRecords(t *testing.T) {
	t.Parallel()
	good := metrics.Record{Values: []metrics.Value{{Metric: metrics.Trips, Value: 1}}}
	tests := []struct {
		name   string
		record metrics.Record
		want   string
	}{
		{"a regional metric without its region", metrics.Record{Values: []metrics.Value{{Metric: metrics.RegionVCPUs, Value: 1}}}, "dimensions"},
		{"a total with a region", metrics.Record{Dimensions: []metrics.Dim{{Name: metrics.DimRegion, Value: "us-east-1"}},
			Values: []metrics.Value{{Metric: metrics.VCPUs, Value: 1}}}, "dimensions"},
		{"an empty dimension value", metrics.Record{Dimensions: []metrics.Dim{{Name: metrics.DimRegion, Value: ""}},
			Values: []metrics.Value{{Metric: metrics.RegionVCPUs, Value: 1}}}, "1 to 1024"},
		{"a metric twice", metrics.Record{Values: []metrics.Value{{Metric: metrics.Trips, Value: 1}, {Metric: metrics.Trips, Value: 2}}}, "twice"},
		{"not a number", metrics.Record{Values: []metrics.Value{{Metric: metrics.HourlyBurnUSD, Value: math.NaN()}}}, "JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			_, err := metrics.NewWriter(&buf, fixed).Emit([]metrics.Record{tc.record, good})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
			// The good record still goes out; the bad one not at all.
			if lines := strings.Split(strings.TrimSpace(buf.String()), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `"Trips":1`) {
				t.Errorf("written %q, want the good record alone", buf.String())
			}
		})
	}
}

func TestDecodeHoldsLinesToTheFormat(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line, want string
	}{
		{"a plain log line", `{"level":"INFO","msg":"census"}`, "not an EMF document"},
		{"not JSON", `START RequestId: 1`, "not an EMF document"},
		{"no timestamp", `{"_aws":{"CloudWatchMetrics":[{"Namespace":"K","Dimensions":[[]],"Metrics":[{"Name":"A"}]}]},"A":1}`, "Timestamp"},
		{"no directives", `{"_aws":{"Timestamp":1},"A":1}`, "CloudWatchMetrics"},
		{"no namespace", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Dimensions":[[]],"Metrics":[{"Name":"A"}]}]},"A":1}`, "Namespace"},
		{"no dimensions", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"K","Metrics":[{"Name":"A"}]}]},"A":1}`, "Dimensions"},
		{"a metric without its value", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"K","Dimensions":[[]],"Metrics":[{"Name":"A"}]}]}}`, "no numeric value"},
		{"a dimension without its value", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"K","Dimensions":[["Region"]],"Metrics":[{"Name":"A"}]}]},"A":1}`, "Region"},
		{"an unknown unit", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"K","Dimensions":[[]],"Metrics":[{"Name":"A","Unit":"Dollars"}]}]},"A":1}`, "unit"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := metrics.Decode([]byte(tc.line))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one naming %q", err, tc.want)
			}
			if strings.Contains(tc.want, "not an EMF") != errors.Is(err, metrics.ErrNotEMF) {
				t.Errorf("errors.Is(err, ErrNotEMF) = %v for %q", errors.Is(err, metrics.ErrNotEMF), tc.line)
			}
		})
	}
}

// The definitions are what CloudWatch and the dashboard key on: each
// metric once, names that never shadow a dimension in a record, units
// CloudWatch knows.
func TestDefinitions(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	dims := []string{metrics.DimRegion, metrics.DimKind, metrics.DimVerb}
	for _, m := range metrics.All() {
		if seen[m.ID()] {
			t.Errorf("%s defined twice", m.ID())
		}
		seen[m.ID()] = true
		if slices.Contains(dims, m.Name) || m.Name == "" || m.Doc == "" {
			t.Errorf("metric %+v: a name that is no dimension, and a doc, please", m)
		}
		for _, d := range m.Dimensions {
			if !slices.Contains(dims, d) {
				t.Errorf("%s: unknown dimension %s", m.ID(), d)
			}
		}
		// Every metric must be writable: one record of it alone decodes.
		rec := metrics.Record{Values: []metrics.Value{{Metric: m, Value: 1}}}
		for _, d := range m.Dimensions {
			rec.Dimensions = append(rec.Dimensions, metrics.Dim{Name: d, Value: "x"})
		}
		var buf bytes.Buffer
		if _, err := metrics.NewWriter(&buf, fixed).Emit([]metrics.Record{rec}); err != nil {
			t.Errorf("%s: %v", m.ID(), err)
			continue
		}
		if pts, err := metrics.Decode(bytes.TrimSpace(buf.Bytes())); err != nil || len(pts) != 1 || !pts[0].Matches(m) {
			t.Errorf("%s: decoded %+v, %v", m.ID(), pts, err)
		}
	}
}
