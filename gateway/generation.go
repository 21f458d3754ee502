package gateway

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewarden/gatewarden/host"
)

// generation is one loaded Config: plugins, upstream proxies, certificates and the
// compiled handler of each listener. It is immutable once built; requests count
// themselves in and out so a retired generation knows when it has drained.
type generation struct {
	id       uint64
	cfg      *Config
	loadedAt time.Time
	plugins  []*loadedPlugin
	handlers map[string]http.Handler // by listener name
	certs    map[string]*tls.Certificate
	proxies  []*upstreamProxy

	// state counts requests in flight; retiredBit marks a retired generation,
	// after which no new request may acquire it.
	state     atomic.Int64
	drained   chan struct{}
	drainOnce sync.Once
	closeOnce sync.Once
}

const retiredBit = int64(1) << 62

func (gen *generation) tryAcquire() bool {
	for {
		s := gen.state.Load()
		if s&retiredBit != 0 {
			return false
		}
		if gen.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

func (gen *generation) release() {
	if gen.state.Add(-1) == retiredBit {
		gen.drainOnce.Do(func() { close(gen.drained) })
	}
}

func (gen *generation) retire() {
	if gen.state.Or(retiredBit) == 0 {
		gen.drainOnce.Do(func() { close(gen.drained) })
	}
}

func (gen *generation) inFlight() int64 { return gen.state.Load() &^ retiredBit }

// close releases the plugins and idle upstream connections.
func (gen *generation) close(log *slog.Logger) {
	gen.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, p := range gen.plugins {
			if err := p.plugin.Close(ctx); err != nil {
				log.Warn("gateway: closing plugin", "plugin", p.cfg.Name, "generation", gen.id, "err", err)
			}
		}
		for _, up := range gen.proxies {
			up.transport.CloseIdleConnections()
		}
		log.Debug("gateway: generation closed", "generation", gen.id)
	})
}

// loadedPlugin is a running plugin and where its module came from.
type loadedPlugin struct {
	cfg    Plugin
	source string // absolute file path or oci:// reference
	sha256 string
	size   int
	plugin *host.Plugin
}

// build loads everything cfg needs; on error it closes what it loaded.
func (g *Gateway) build(ctx context.Context, cfg *Config) (_ *generation, err error) {
	g.nextGen++
	gen := &generation{
		id:       g.nextGen,
		cfg:      cfg,
		loadedAt: time.Now().UTC(),
		handlers: map[string]http.Handler{},
		certs:    map[string]*tls.Certificate{},
		drained:  make(chan struct{}),
	}
	defer func() {
		if err != nil {
			gen.close(g.log)
		}
	}()

	proxies := map[string]*upstreamProxy{}
	for _, u := range cfg.Upstreams {
		p, err := newUpstreamProxy(u, g.log, g.metrics)
		if err != nil {
			return nil, err
		}
		proxies[u.Name] = p
		gen.proxies = append(gen.proxies, p)
	}

	plugins := map[string]*loadedPlugin{}
	for i, pc := range cfg.Plugins {
		lp, err := g.loadPlugin(ctx, cfg, pc)
		if err != nil {
			return nil, fmt.Errorf("plugins[%d] %q: %w", i, pc.Name, err)
		}
		plugins[pc.Name] = lp
		gen.plugins = append(gen.plugins, lp)
	}

	for i, l := range cfg.Listeners {
		if l.TLS != nil {
			cert, err := tls.LoadX509KeyPair(resolvePath(cfg.BaseDir, l.TLS.Cert), resolvePath(cfg.BaseDir, l.TLS.Key))
			if err != nil {
				return nil, fmt.Errorf("listeners[%d].tls: %w; check that cert and key are PEM files of one pair", i, err)
			}
			gen.certs[l.Name] = &cert
		}
		var routes []*route
		for _, r := range l.Routes {
			chain := append(slices.Clone(l.Plugins), r.Plugins...)
			var h http.Handler = proxies[r.Upstream]
			for j := len(chain) - 1; j >= 0; j-- {
				h = plugins[chain[j]].plugin.Middleware(h)
			}
			routes = append(routes, &route{prefix: r.Prefix, upstream: r.Upstream, plugins: chain, handler: h})
		}
		gen.handlers[l.Name] = g.listenerHandler(l.Name, newRouteTable(routes), *cfg.AccessLog)
	}
	return gen, nil
}

func resolvePath(base, p string) string {
	if p == "" || filepath.IsAbs(p) || base == "" {
		return p
	}
	return filepath.Join(base, p)
}
