package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"
)

// Dim is one dimension's value in a record.
type Dim struct{ Name, Value string }

// Value is one metric's value in a record.
type Value struct {
	Metric Metric
	Value  float64
}

// Record is one EMF document: values of metrics that share one dimension
// set, with that set's values. It becomes one log line.
type Record struct {
	Dimensions []Dim
	Values     []Value
}

// Writer writes records as EMF log lines. In Lambda its output is the
// function's stdout, which CloudWatch Logs turns into metrics: no API call
// and no permission.
type Writer struct {
	out io.Writer
	now func() time.Time
}

// NewWriter writes to out, stamping each line with now (nil: time.Now).
func NewWriter(out io.Writer, now func() time.Time) *Writer {
	if now == nil {
		now = time.Now
	}
	return &Writer{out: out, now: now}
}

// Emit writes one line per record (records without values are skipped) and
// returns the bytes written. A record that breaks the format is an error
// and nothing of it is written, so CloudWatch never receives a document it
// would reject or, worse, half accept.
func (w *Writer) Emit(records []Record) (int, error) {
	ts := w.now().UnixMilli()
	total := 0
	var errs []error
	for _, r := range records {
		if len(r.Values) == 0 {
			continue
		}
		line, err := r.encode(ts)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// One Write per line: lines from concurrent writers to the same
		// stdout never interleave within a line.
		n, err := w.out.Write(line)
		total += n
		if err != nil {
			return total, errors.Join(append(errs, err)...)
		}
	}
	return total, errors.Join(errs...)
}

// maxDimensionValue is CloudWatch's limit on a dimension value.
const maxDimensionValue = 1024

type metricDef struct {
	Name string `json:"Name"`
	Unit Unit   `json:"Unit"`
}

type directive struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []metricDef `json:"Metrics"`
}

type metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
}

// encode is the record as one JSON line: the _aws metadata, then the
// dimension values and metric values as top-level members, as the format
// requires.
func (r Record) encode(ts int64) ([]byte, error) {
	names := make([]string, 0, len(r.Dimensions))
	doc := map[string]any{}
	for _, d := range r.Dimensions {
		if d.Value == "" || len(d.Value) > maxDimensionValue {
			return nil, fmt.Errorf("metrics: dimension %s has value %q: CloudWatch wants 1 to %d characters", d.Name, d.Value, maxDimensionValue)
		}
		names = append(names, d.Name)
		doc[d.Name] = d.Value
	}
	dir := directive{Namespace: Namespace, Dimensions: [][]string{names}}
	for _, v := range r.Values {
		m := v.Metric
		if !m.sameDimensions(names) {
			return nil, fmt.Errorf("metrics: %s is defined with dimensions %v, but the record has %v", m.ID(), m.Dimensions, names)
		}
		if _, dup := doc[m.Name]; dup || m.Name == "_aws" {
			return nil, fmt.Errorf("metrics: %s appears twice in one record, or clashes with a dimension", m.Name)
		}
		if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
			return nil, fmt.Errorf("metrics: %s is %v, which JSON cannot carry", m.Name, v.Value)
		}
		doc[m.Name] = v.Value
		dir.Metrics = append(dir.Metrics, metricDef{Name: m.Name, Unit: m.Unit})
	}
	doc["_aws"] = metadata{Timestamp: ts, CloudWatchMetrics: []directive{dir}}
	line, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return append(line, '\n'), nil
}

// Point is one metric value read back from an EMF line.
type Point struct {
	Namespace string
	Name      string
	Unit      Unit
	// Dimensions maps each dimension of the point's set to its value.
	Dimensions map[string]string
	Value      float64
	Timestamp  time.Time
}

// Matches says whether the point is m: same namespace, name, unit and
// dimension names.
func (p Point) Matches(m Metric) bool {
	if p.Namespace != Namespace || p.Name != m.Name || p.Unit != m.Unit || len(p.Dimensions) != len(m.Dimensions) {
		return false
	}
	for _, d := range m.Dimensions {
		if _, ok := p.Dimensions[d]; !ok {
			return false
		}
	}
	return true
}

// ErrNotEMF is Decode's answer for a line that is not an EMF document at
// all (a plain log line): no _aws member.
var ErrNotEMF = errors.New("not an EMF document")

// Decode reads one log line as CloudWatch Logs would: it checks the line
// against the EMF specification (a JSON object; _aws with a numeric
// Timestamp and a CloudWatchMetrics array; each directive with a
// Namespace, Dimensions as arrays of dimension names whose values are
// top-level strings, and Metrics whose names have top-level numeric
// values) and returns a point per metric per dimension set. It is written
// apart from the encoder, against the specification, so that the tests
// read the function's output the way CloudWatch does.
func Decode(line []byte) ([]Point, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(line, &doc); err != nil {
		return nil, ErrNotEMF
	}
	rawAWS, ok := doc["_aws"]
	if !ok {
		return nil, ErrNotEMF
	}
	var aws struct {
		Timestamp         *float64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  *string           `json:"Namespace"`
			Dimensions [][]string        `json:"Dimensions"`
			Metrics    []json.RawMessage `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	}
	if err := json.Unmarshal(rawAWS, &aws); err != nil {
		return nil, fmt.Errorf("_aws: %w", err)
	}
	if aws.Timestamp == nil {
		return nil, errors.New("_aws.Timestamp is missing")
	}
	if aws.CloudWatchMetrics == nil {
		return nil, errors.New("_aws.CloudWatchMetrics is missing")
	}
	ts := time.UnixMilli(int64(*aws.Timestamp))
	var out []Point
	for i, d := range aws.CloudWatchMetrics {
		if d.Namespace == nil || *d.Namespace == "" {
			return nil, fmt.Errorf("CloudWatchMetrics[%d]: no Namespace", i)
		}
		if d.Dimensions == nil {
			return nil, fmt.Errorf("CloudWatchMetrics[%d]: no Dimensions", i)
		}
		if len(d.Metrics) == 0 || len(d.Metrics) > 100 {
			return nil, fmt.Errorf("CloudWatchMetrics[%d]: %d metric definitions, want 1 to 100", i, len(d.Metrics))
		}
		for _, set := range d.Dimensions {
			if len(set) > 30 {
				return nil, fmt.Errorf("CloudWatchMetrics[%d]: a dimension set of %d, at most 30", i, len(set))
			}
			dims := map[string]string{}
			for _, name := range set {
				var v string
				if err := json.Unmarshal(doc[name], &v); err != nil || v == "" {
					return nil, fmt.Errorf("CloudWatchMetrics[%d]: dimension %s has no string value at the top level", i, name)
				}
				dims[name] = v
			}
			for j, raw := range d.Metrics {
				var def struct {
					Name *string `json:"Name"`
					Unit Unit    `json:"Unit"`
				}
				if err := json.Unmarshal(raw, &def); err != nil || def.Name == nil || *def.Name == "" {
					return nil, fmt.Errorf("CloudWatchMetrics[%d].Metrics[%d]: no Name", i, j)
				}
				if def.Unit != "" && !slices.Contains(units, def.Unit) {
					return nil, fmt.Errorf("metric %s: unit %q is not a CloudWatch unit", *def.Name, def.Unit)
				}
				var v float64
				if err := json.Unmarshal(doc[*def.Name], &v); err != nil {
					return nil, fmt.Errorf("metric %s has no numeric value at the top level", *def.Name)
				}
				unit := def.Unit
				if unit == "" {
					unit = None
				}
				out = append(out, Point{Namespace: *d.Namespace, Name: *def.Name, Unit: unit, Dimensions: dims, Value: v, Timestamp: ts})
			}
		}
	}
	return out, nil
}

// units are the units CloudWatch accepts.
var units = []Unit{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
	"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second",
	"Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
	"Gigabits/Second", "Terabits/Second", "Count/Second", "None"}
