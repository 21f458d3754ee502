package host

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// metric is one metric defined by a plugin (shared by all of its VMs).
type metric struct {
	typ  uint32
	name string // as the filter defined it
	prom string // sanitized Prometheus name
	val  atomic.Int64
	// histogram state
	hmu     sync.Mutex
	buckets []uint64 // counts per histBounds bucket (non-cumulative)
	count   uint64
	sum     float64
}

// histBounds are Envoy's default histogram bucket bounds.
var histBounds = []float64{0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000}

// metricIDBase keeps metric ids away from 0 so an uninitialized id is never valid.
const metricIDBase = 1

// maxMetrics bounds the number of metrics one plugin may define.
const maxMetrics = 4096

type metricSet struct {
	mu     sync.RWMutex
	byName map[string]uint32
	list   []*metric
}

func (s *metricSet) define(typ uint32, name string) (uint32, status) {
	if typ > metricHistogram {
		return 0, statusBadArgument
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byName == nil {
		s.byName = make(map[string]uint32)
	}
	if id, ok := s.byName[name]; ok {
		if s.list[id-metricIDBase].typ != typ {
			return 0, statusBadArgument
		}
		return id, statusOK
	}
	if len(s.list) >= maxMetrics {
		return 0, statusInternalFailure
	}
	m := &metric{typ: typ, name: name, prom: promName(name)}
	if typ == metricHistogram {
		m.buckets = make([]uint64, len(histBounds)+1)
	}
	s.list = append(s.list, m)
	id := uint32(len(s.list)-1) + metricIDBase
	s.byName[name] = id
	return id, statusOK
}

func (s *metricSet) get(id uint32) *metric {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := int64(id) - metricIDBase
	if i < 0 || i >= int64(len(s.list)) {
		return nil
	}
	return s.list[i]
}

// increment follows Envoy: counters only grow (delta <= 0 is BAD_ARGUMENT),
// gauges move either way, histograms cannot be incremented.
func (m *metric) increment(delta int64) status {
	switch m.typ {
	case metricCounter:
		if delta <= 0 {
			return statusBadArgument
		}
		m.val.Add(delta)
	case metricGauge:
		m.val.Add(delta)
	default:
		return statusBadArgument
	}
	return statusOK
}

// record follows Envoy: it adds to a counter, sets a gauge and records a
// histogram sample.
func (m *metric) record(v uint64) status {
	switch m.typ {
	case metricCounter:
		m.val.Add(int64(v))
	case metricGauge:
		m.val.Store(int64(v))
	default:
		f := float64(v)
		i := len(histBounds)
		for j, b := range histBounds {
			if f <= b {
				i = j
				break
			}
		}
		m.hmu.Lock()
		m.buckets[i]++
		m.count++
		m.sum += f
		m.hmu.Unlock()
	}
	return statusOK
}

func (m *metric) value() (uint64, status) {
	if m.typ == metricHistogram {
		return 0, statusBadArgument
	}
	return uint64(m.val.Load()), statusOK
}

// promName turns a filter's metric name into a valid Prometheus name.
func promName(name string) string {
	name = strings.TrimPrefix(name, "wasmcustom.")
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || (i > 0 && '0' <= c && c <= '9')
		if ok {
			b.WriteByte(c)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// Collector returns a prometheus.Collector exposing the metrics the plugin's
// filter defined (proxy_define_metric), labelled plugin=<Name>, and the
// host's proxywasm_filter_duration_seconds histogram (the latency the filter
// adds to each request). Counters and
// gauges keep their names (a "wasmcustom." prefix is dropped and characters
// Prometheus does not allow become "_"); histograms use Envoy's default
// buckets. Register it once on the registry an admin listener serves.
func (p *Plugin) Collector() prometheus.Collector { return (*pluginCollector)(p) }

type pluginCollector Plugin

var _ prometheus.Collector = (*pluginCollector)(nil)

// Describe sends nothing: the filter defines metrics at run time, so this is
// an unchecked collector.
func (c *pluginCollector) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (c *pluginCollector) Collect(ch chan<- prometheus.Metric) {
	c.filterTime.Collect(ch)
	s := &c.metrics
	s.mu.RLock()
	list := s.list[:len(s.list):len(s.list)]
	s.mu.RUnlock()
	labels := prometheus.Labels{"plugin": c.cfg.Name}
	for _, m := range list {
		switch m.typ {
		case metricCounter:
			d := prometheus.NewDesc(m.prom, "proxy-wasm counter "+m.name, nil, labels)
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(m.val.Load()))
		case metricGauge:
			d := prometheus.NewDesc(m.prom, "proxy-wasm gauge "+m.name, nil, labels)
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(m.val.Load()))
		case metricHistogram:
			d := prometheus.NewDesc(m.prom, "proxy-wasm histogram "+m.name, nil, labels)
			m.hmu.Lock()
			cum := uint64(0)
			bk := make(map[float64]uint64, len(histBounds))
			for j, b := range histBounds {
				cum += m.buckets[j]
				bk[b] = cum
			}
			count, sum := m.count, m.sum
			m.hmu.Unlock()
			if math.IsNaN(sum) {
				sum = 0
			}
			ch <- prometheus.MustNewConstHistogram(d, count, sum, bk)
		}
	}
}
