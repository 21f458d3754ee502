// Package gateway is Gatewarden's YAML-configured HTTP gateway: listeners with
// routes to upstreams, each route behind a chain of proxy-wasm plugins run by
// host/. It reloads its configuration and plugins on SIGHUP without dropping
// requests and drains requests in flight on shutdown.
package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatewarden/gatewarden/host"
	"github.com/prometheus/client_golang/prometheus"
)

// ErrNeedsRestart is returned by Reload for changes a reload cannot apply
// (listener names, addresses or TLS on/off, the admin address, cache_dir).
var ErrNeedsRestart = errors.New("gateway: this change needs a restart")

// ErrClosed is returned by Start and Reload after Shutdown.
var ErrClosed = errors.New("gateway: shut down")

// Options are the parts of a gateway that do not come from the YAML.
type Options struct {
	// Logger gets the gateway's structured logs; slog.Default() when nil.
	Logger *slog.Logger
	// Registry gets the gateway's and the plugins' metrics; a new one when nil.
	Registry *prometheus.Registry
	// PullOCI fetches plugin modules whose path starts with oci://; nil means oci.Pull.
	PullOCI PullFunc
}

// Gateway serves one Config at a time; Reload swaps in another. Create it with
// New, then Start; stop it with Shutdown. Its methods are safe for concurrent use.
type Gateway struct {
	log     *slog.Logger
	opts    Options
	reg     *prometheus.Registry
	metrics *metrics
	rt      *host.Runtime

	mu        sync.Mutex // serializes Start, Reload and Shutdown
	addrMu    sync.Mutex // guards addrs; never held while draining
	addrs     map[string]string
	cur       atomic.Pointer[generation]
	nextGen   uint64
	listeners []*listenerServer
	admin     *http.Server
	adminLn   net.Listener
	started   bool
	closed    bool
	ready     atomic.Bool
	retiring  sync.WaitGroup // old generations waiting to close their plugins
	serving   sync.WaitGroup
}

type listenerServer struct {
	name    string
	address string
	tls     bool
	ln      net.Listener
	srv     *http.Server
}

// New loads cfg's plugins and builds its handlers; it does not listen yet.
// cfg must have passed Validate (LoadFile does that).
func New(ctx context.Context, cfg *Config, opts Options) (*Gateway, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Gateway{log: opts.Logger, opts: opts, reg: opts.Registry}
	if g.log == nil {
		g.log = slog.Default()
	}
	if g.reg == nil {
		g.reg = prometheus.NewRegistry()
	}
	m, err := newMetrics(g.reg, g.currentPlugins)
	if err != nil {
		return nil, err
	}
	g.metrics = m
	g.rt, err = host.NewRuntime(ctx, host.RuntimeConfig{CacheDir: cfg.CacheDir, Logger: g.log})
	if err != nil {
		return nil, err
	}
	gen, err := g.build(ctx, cfg)
	if err != nil {
		_ = g.rt.Close(context.Background())
		return nil, err
	}
	g.cur.Store(gen)
	g.metrics.generation.Set(float64(gen.id))
	return g, nil
}

// Config returns the configuration being served.
func (g *Gateway) Config() *Config { return g.cur.Load().cfg }

// Handler returns the handler of the named listener, for serving it in-process
// (tests use it with httptest); it follows reloads. Nil for an unknown name.
func (g *Gateway) Handler(listener string) http.Handler {
	if _, ok := g.cur.Load().handlers[listener]; !ok {
		return nil
	}
	return g.stableHandler(listener)
}

// stableHandler survives reloads: each request pins the generation current when
// it arrives, so a reload never changes plugins or routes under a request.
func (g *Gateway) stableHandler(listener string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gen := g.acquire()
		if gen == nil {
			writeError(w, r, http.StatusServiceUnavailable, "shutting_down")
			return
		}
		defer gen.release()
		h, ok := gen.handlers[listener]
		if !ok {
			writeError(w, r, http.StatusServiceUnavailable, "listener_removed")
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (g *Gateway) acquire() *generation {
	for {
		gen := g.cur.Load()
		if gen == nil || gen.tryAcquire() {
			return gen
		}
		// gen was retired between Load and tryAcquire; its successor is stored already.
	}
}

// Start binds every listener (so a busy port fails here) and serves in the background.
func (g *Gateway) Start() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	if g.started {
		return errors.New("gateway: already started")
	}
	cfg := g.cur.Load().cfg
	var started []net.Listener
	fail := func(err error) error {
		for _, ln := range started {
			ln.Close()
		}
		g.listeners = nil
		return err
	}
	for _, l := range cfg.Listeners {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			return fail(fmt.Errorf("gateway: listener %q: %w", l.Name, err))
		}
		started = append(started, ln)
		ls := &listenerServer{name: l.Name, address: l.Address, tls: l.TLS != nil, ln: ln}
		ls.srv = &http.Server{
			Handler:           g.stableHandler(l.Name),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
		}
		if ls.tls {
			name := l.Name
			ls.srv.TLSConfig = &tls.Config{
				MinVersion: tls.VersionTLS12,
				GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
					gen := g.cur.Load()
					if gen == nil || gen.certs[name] == nil {
						return nil, errors.New("no certificate")
					}
					return gen.certs[name], nil
				},
			}
		}
		g.listeners = append(g.listeners, ls)
	}
	if cfg.Admin.Address != "" {
		ln, err := net.Listen("tcp", cfg.Admin.Address)
		if err != nil {
			return fail(fmt.Errorf("gateway: admin listener: %w", err))
		}
		g.adminLn = ln
		g.admin = &http.Server{Handler: g.AdminHandler(), ReadHeaderTimeout: 10 * time.Second}
		g.serve(g.admin, ln, false)
	}
	for _, ls := range g.listeners {
		g.serve(ls.srv, ls.ln, ls.tls)
		g.log.Info("gateway: listening", "listener", ls.name, "address", ls.ln.Addr().String(), "tls", ls.tls)
	}
	addrs := map[string]string{}
	for _, ls := range g.listeners {
		addrs["listener:"+ls.name] = ls.ln.Addr().String()
	}
	if g.adminLn != nil {
		addrs["admin"] = g.adminLn.Addr().String()
	}
	g.addrMu.Lock()
	g.addrs = addrs
	g.addrMu.Unlock()
	g.started = true
	g.ready.Store(true)
	return nil
}

func (g *Gateway) serve(srv *http.Server, ln net.Listener, useTLS bool) {
	g.serving.Add(1)
	go func() {
		defer g.serving.Done()
		var err error
		if useTLS {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			g.log.Error("gateway: serve", "address", ln.Addr().String(), "err", err)
		}
	}()
}

// Addr is the bound address of the named listener ("" before Start or when unknown);
// with port 0 in the config it tells which port was picked.
func (g *Gateway) Addr(listener string) string {
	g.addrMu.Lock()
	defer g.addrMu.Unlock()
	return g.addrs["listener:"+listener]
}

// AdminAddr is the bound admin address, or "" when there is none.
func (g *Gateway) AdminAddr() string {
	g.addrMu.Lock()
	defer g.addrMu.Unlock()
	return g.addrs["admin"]
}

// Reload builds cfg's generation (loading its plugins) and swaps it in. Requests
// in flight finish on the old generation, whose plugins are closed once they
// drain (or after drain_timeout). On any error the old configuration keeps running.
func (g *Gateway) Reload(ctx context.Context, cfg *Config) (err error) {
	defer func() {
		result := "success"
		if err != nil {
			result = "failure"
		}
		g.metrics.reloads.WithLabelValues(result).Inc()
	}()
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	old := g.cur.Load()
	if err := reloadable(old.cfg, cfg); err != nil {
		return err
	}
	gen, err := g.build(ctx, cfg)
	if err != nil {
		return err
	}
	g.cur.Store(gen)
	g.metrics.generation.Set(float64(gen.id))
	g.log.Info("gateway: configuration reloaded", "generation", gen.id, "plugins", len(gen.plugins))
	g.retire(old, cfg.DrainTimeout.D())
	return nil
}

// retire closes old's plugins once its requests drain, in the background.
func (g *Gateway) retire(old *generation, timeout time.Duration) {
	old.retire()
	g.retiring.Add(1)
	go func() {
		defer g.retiring.Done()
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case <-old.drained:
		case <-t.C:
			g.log.Warn("gateway: drain timeout; closing the old generation's plugins with requests in flight",
				"generation", old.id, "in_flight", old.inFlight())
		}
		old.close(g.log)
	}()
}

// reloadable refuses changes that would need new sockets.
func reloadable(old, cfg *Config) error {
	if len(old.Listeners) != len(cfg.Listeners) {
		return fmt.Errorf("%w: the number of listeners changed (%d to %d)", ErrNeedsRestart, len(old.Listeners), len(cfg.Listeners))
	}
	for i, l := range cfg.Listeners {
		o := old.Listeners[i]
		if l.Name != o.Name || l.Address != o.Address || (l.TLS == nil) != (o.TLS == nil) {
			return fmt.Errorf("%w: listeners[%d] changed name, address or TLS on/off (%q %q to %q %q); routes, plugins, upstreams and certificates reload, sockets do not",
				ErrNeedsRestart, i, o.Name, o.Address, l.Name, l.Address)
		}
	}
	if old.Admin.Address != cfg.Admin.Address {
		return fmt.Errorf("%w: admin.address changed (%q to %q)", ErrNeedsRestart, old.Admin.Address, cfg.Admin.Address)
	}
	if old.CacheDir != cfg.CacheDir {
		return fmt.Errorf("%w: cache_dir changed (%q to %q)", ErrNeedsRestart, old.CacheDir, cfg.CacheDir)
	}
	return nil
}

// Shutdown stops accepting connections, waits for requests in flight (until ctx
// is done, or drain_timeout when ctx has no deadline), then closes plugins.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	g.ready.Store(false)
	gen := g.cur.Load()
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, gen.cfg.DrainTimeout.D())
		defer cancel()
	}
	var errs []error
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, ls := range g.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := ls.srv.Shutdown(ctx); err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("listener %q: %w", ls.name, err))
				emu.Unlock()
				ls.srv.Close()
			}
		}()
	}
	wg.Wait()
	if g.admin != nil {
		_ = g.admin.Shutdown(ctx)
		g.admin.Close()
	}
	g.serving.Wait()
	g.cur.Store(nil)
	gen.retire()
	select {
	case <-gen.drained:
	case <-ctx.Done():
		g.log.Warn("gateway: shutdown timeout; closing plugins with requests in flight", "in_flight", gen.inFlight())
	}
	gen.close(g.log)
	g.retiring.Wait()
	if err := g.rt.Close(context.Background()); err != nil {
		errs = append(errs, err)
	}
	g.log.Info("gateway: stopped")
	return errors.Join(errs...)
}

// Run loads the config file, serves it, reloads it on SIGHUP and shuts down
// gracefully when ctx is done (the caller maps SIGINT/SIGTERM to that).
// ready, when not nil, is called once the listeners are bound.
func Run(ctx context.Context, path string, opts Options, ready func(*Gateway)) error {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	cfg, err := LoadFile(path)
	if err != nil {
		return err
	}
	g, err := New(ctx, cfg, opts)
	if err != nil {
		return err
	}
	// Catch SIGHUP before the listeners open, so an early reload never kills the process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := g.Start(); err != nil {
		_ = g.Shutdown(context.Background())
		return err
	}
	if ready != nil {
		ready(g)
	}
	for {
		select {
		case <-ctx.Done():
			log.Info("gateway: shutting down; draining requests in flight", "drain_timeout", g.Config().DrainTimeout.D().String())
			sctx, cancel := context.WithTimeout(context.Background(), g.Config().DrainTimeout.D())
			err := g.Shutdown(sctx)
			cancel()
			return err
		case <-hup:
			log.Info("gateway: SIGHUP; reloading", "config", path)
			cfg, err := LoadFile(path)
			if err == nil {
				err = g.Reload(ctx, cfg)
			}
			if err != nil {
				log.Error("gateway: reload failed; the previous configuration keeps running", "err", err)
			}
		}
	}
}
