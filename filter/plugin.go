package main

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/filter/abi"
	"github.com/gatewarden/gatewarden/jwt"
)

// Tick periods: fast while requests wait for keys, slow otherwise.
const (
	fastTick = 100 * time.Millisecond
	slowTick = time.Second
)

// plugin is the root context of one VM: the configuration, each provider's key state (with its
// verified-token cache) and the metric ids.
type plugin struct {
	id      uint32
	host    abi.Host
	cfg     *config
	keys    map[*provider]*keyState
	metrics map[string]uint32
	// The counters every request touches, resolved once: count's map lookup hashes the name,
	// which is slow in wasm.
	allowed, cacheHit, cacheMiss counter
	tick                         time.Duration
	free                         []*stream // released streams (see stream.Release)
	rand                         *rand.Rand
}

var _ abi.RootContext = (*plugin)(nil)

func newPlugin(id uint32, host abi.Host) abi.RootContext {
	return &plugin{id: id, host: host, metrics: map[string]uint32{}, rand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))}
}

// OnVMStart accepts any VM configuration; the filter is configured per plugin.
func (p *plugin) OnVMStart(int) bool { return true }

// OnConfigure parses and validates the plugin configuration; a bad one fails the plugin start.
// Remote key sets are fetched at once (warm start).
func (p *plugin) OnConfigure(size int) bool {
	data, err := p.host.GetBuffer(abi.BufferPluginConfiguration, 0, size)
	if err != nil && size > 0 {
		p.host.Log(abi.LogCritical, "gatewarden: cannot read the plugin configuration: "+err.Error())
		return false
	}
	cfg, err := parseConfig(data)
	if err != nil {
		p.host.Log(abi.LogCritical, "gatewarden: "+err.Error())
		return false
	}
	p.cfg = cfg
	p.keys = map[*provider]*keyState{}
	now := p.host.Now()
	remote := false
	for _, prov := range cfg.providers {
		ks := &keyState{prov: prov, waiters: map[uint32]*stream{}, sharedKey: sharedKeyOf(prov)}
		if cfg.cacheEntries > 0 {
			ks.cache = jwt.NewCache(cfg.cacheEntries)
		}
		if !prov.remote() {
			ks.keys, ks.fetchedAt = prov.inline, now
		} else {
			remote = true
		}
		p.keys[prov] = ks
	}
	if remote {
		for _, ks := range p.keys {
			if ks.prov.remote() {
				p.syncShared(ks, now)
				p.maybeFetch(ks, now)
			}
		}
		p.setTick(fastTick)
	}
	p.host.Log(abi.LogInfo, "gatewarden: configured with providers "+strings.Join(providerNames(cfg.providers), ", "))
	return true
}

// OnTick refreshes keys (from other VMs through shared data, or by fetching), resumes requests
// waiting for keys and fails those that waited too long.
func (p *plugin) OnTick() {
	if p.cfg == nil {
		return
	}
	now := p.host.Now()
	waiting := false
	for _, ks := range p.keys {
		if !ks.prov.remote() {
			continue
		}
		if ks.callID != 0 && now.Sub(ks.callStarted) > 2*ks.prov.fetchTimeout+time.Second {
			// The host never answered: give the call up so fetching can go on.
			p.fetchFailed(ks, now, "fetch_lost")
		}
		p.syncShared(ks, now)
		p.maybeFetch(ks, now)
		if ks.keys != nil {
			p.gauge("gatewarden_jwks_age_seconds_"+metricName(ks.prov.name), uint64(now.Sub(ks.fetchedAt)/time.Second))
		}
		p.resumeWaiters(ks, now, false)
		if len(ks.waiters) > 0 || ks.keys == nil {
			waiting = true
		}
	}
	if waiting {
		p.setTick(fastTick)
	} else {
		p.setTick(slowTick)
	}
}

func (p *plugin) setTick(d time.Duration) {
	if p.tick != d {
		p.tick = d
		_ = p.host.SetTickPeriod(d)
	}
}

// OnHTTPCallResponse routes a key server's answer to the provider that asked.
func (p *plugin) OnHTTPCallResponse(callID uint32, numHeaders, bodySize, _ int) {
	for _, ks := range p.keys {
		if ks.callID == callID {
			p.onFetchResponse(ks, numHeaders, bodySize)
			return
		}
	}
}

// NewHTTPContext creates the per-request gate, reusing a released one when it can.
func (p *plugin) NewHTTPContext(id uint32) abi.HTTPContext {
	if n := len(p.free); n > 0 {
		s := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		s.id = id
		return s
	}
	return &stream{id: id, plugin: p}
}

// maxFreeStreams bounds the streams kept for reuse after a burst.
const maxFreeStreams = 256

// count increments a counter, defining it on first use. Hosts without metrics are tolerated.
func (p *plugin) count(name string) {
	if id, ok := p.metricID(abi.MetricCounter, name); ok {
		_ = p.host.IncrementMetric(id, 1)
	}
}

// counter is a metric id resolved on first use; see countHot.
type counter struct {
	id       uint32
	resolved bool
	ok       bool
}

// countHot increments the counter name, caching its id in c.
func (p *plugin) countHot(c *counter, name string) {
	if !c.resolved {
		c.id, c.ok = p.metricID(abi.MetricCounter, name)
		c.resolved = true
	}
	if c.ok {
		_ = p.host.IncrementMetric(c.id, 1)
	}
}

func (p *plugin) gauge(name string, v uint64) {
	if id, ok := p.metricID(abi.MetricGauge, name); ok {
		_ = p.host.RecordMetric(id, v)
	}
}

func (p *plugin) metricID(kind abi.MetricType, name string) (uint32, bool) {
	if id, ok := p.metrics[name]; ok {
		return id, id != ^uint32(0)
	}
	id, err := p.host.DefineMetric(kind, name)
	if err != nil {
		id = ^uint32(0) // remember the failure; don't ask the host again
	}
	p.metrics[name] = id
	return id, err == nil
}

// metricName maps a provider name onto [a-z0-9_] for metric names.
func metricName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, s)
}
