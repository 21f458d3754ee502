package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the gateway's own Prometheus metrics. Labels come from the config
// (listener names, route prefixes, upstream names), so their number is bounded.
type metrics struct {
	requests       *prometheus.CounterVec
	duration       *prometheus.HistogramVec
	inFlight       prometheus.Gauge
	upstreamErrors *prometheus.CounterVec
	reloads        *prometheus.CounterVec
	generation     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, plugins func() []prometheus.Collector) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_gateway_requests_total",
			Help: "Requests handled, by listener, route prefix and status code.",
		}, []string{"listener", "route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gatewarden_gateway_request_duration_seconds",
			Help:    "Time from request arrival to the end of the response, plugins and upstream included.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"listener", "route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewarden_gateway_requests_in_flight",
			Help: "Requests being handled now.",
		}),
		upstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_gateway_upstream_errors_total",
			Help: "Requests that got no upstream response, by upstream and kind (connect, timeout, client_canceled).",
		}, []string{"upstream", "kind"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatewarden_gateway_config_reloads_total",
			Help: "Configuration reloads, by result (success, failure).",
		}, []string{"result"}),
		generation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatewarden_gateway_config_generation",
			Help: "Sequence number of the configuration being served (1 at start, +1 per reload).",
		}),
	}
	for _, c := range []prometheus.Collector{
		m.requests, m.duration, m.inFlight, m.upstreamErrors, m.reloads, m.generation,
		pluginCollector(plugins),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// pluginCollector exposes the metrics of the current generation's plugins, so a
// reload switches the exported plugin metrics without re-registering anything.
type pluginCollector func() []prometheus.Collector

// Describe sends nothing: plugin metrics are defined by guests at run time,
// which makes this an unchecked collector.
func (pluginCollector) Describe(chan<- *prometheus.Desc) {}

func (f pluginCollector) Collect(ch chan<- prometheus.Metric) {
	for _, c := range f() {
		c.Collect(ch)
	}
}

func (g *Gateway) currentPlugins() []prometheus.Collector {
	gen := g.cur.Load()
	if gen == nil {
		return nil
	}
	out := make([]prometheus.Collector, 0, len(gen.plugins))
	for _, p := range gen.plugins {
		out = append(out, p.plugin.Collector())
	}
	return out
}
