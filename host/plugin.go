package host

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewarden/gatewarden/host/meter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// PluginConfig describes one plugin: a module, its configuration and how it
// runs. Zero limits mean the safe defaults documented on Limits.
type PluginConfig struct {
	// Name is the plugin name (property plugin_name, log attribute, metrics
	// label).
	Name string
	// RootID is the root id (property plugin_root_id).
	RootID string
	// VMID is the vm id (property plugin_vm_id). Plugins of one Runtime with
	// the same VMID share shared data and shared queues, as in Envoy.
	VMID string
	// Wasm holds the module bytes. They are compiled once (and cached on disk
	// when the Runtime has a CacheDir).
	Wasm []byte
	// Configuration is the plugin configuration (buffer PLUGIN_CONFIGURATION,
	// read in proxy_on_configure).
	Configuration []byte
	// VMConfiguration is the VM configuration (buffer VM_CONFIGURATION, read
	// in proxy_on_vm_start).
	VMConfiguration []byte
	// VMs is the number of VM instances (workers); 0 means GOMAXPROCS.
	VMs int
	// FailOpen passes requests through unfiltered when the VM traps or
	// panics. The default (false) answers 503.
	FailOpen bool
	// Upstreams maps the upstream names a filter may pass to proxy_http_call
	// to base URLs such as "http://127.0.0.1:9000". Unknown names get
	// BAD_ARGUMENT, as Envoy answers for an unknown cluster.
	Upstreams map[string]string
	// Logger receives the filter's logs; nil means the Runtime's logger.
	Logger *slog.Logger
	// Limits bound what the filter may use.
	Limits Limits
}

// Limits bound a plugin's resources. A zero field means its default.
type Limits struct {
	// MaxMemoryBytes is the most linear memory one VM may grow to
	// (default 256 MiB, rounded down to 64 KiB pages).
	MaxMemoryBytes uint64
	// MaxCallbackTime bounds one call into the guest; a VM that runs longer
	// is stopped (the request fails closed, or open with FailOpen) and
	// replaced. It exists to stop runaway loops, so the default is a
	// generous 10s: a Go guest's garbage collection alone was seen taking
	// 300 ms on a loaded machine. A negative value disables the limit.
	// The limit is enforced by instrumenting the module (host/meter: an
	// inline budget counter at function entries and loop headers, a host
	// call every meter.Interval units), which costs a few percent; a
	// module the rewrite does not understand gets wazero's
	// close-on-context-done instead, which makes guest code 2-3x slower
	// (docs/BENCHMARKS.md).
	MaxCallbackTime time.Duration
	// StartTimeout bounds _initialize, proxy_on_vm_start and
	// proxy_on_configure together (default 30s).
	StartTimeout time.Duration
	// PauseTimeout bounds how long a paused request or response waits for
	// proxy_continue_stream or a local response before it fails with 503
	// (default 30s).
	PauseTimeout time.Duration
	// HTTPCallTimeout is the timeout of a proxy_http_call that asks for none,
	// and the upper bound of any timeout it asks for (default 30s).
	HTTPCallTimeout time.Duration
	// MaxHeaderBytes bounds a serialized header map the filter sets or sends,
	// and the headers given to it (default 256 KiB). MaxHeaders bounds the
	// number of fields (default 1024).
	MaxHeaderBytes int
	MaxHeaders     int
	// MaxBodyBytes bounds a body the host buffers for the filter, a local
	// response body, and a proxy_http_call request or response body
	// (default 4 MiB).
	MaxBodyBytes int
	// MaxValueBytes bounds a log message, property value, shared data value
	// or queue item the filter hands to the host (default 1 MiB).
	MaxValueBytes int
}

func (l Limits) withDefaults() Limits {
	if l.MaxMemoryBytes == 0 {
		l.MaxMemoryBytes = 256 << 20
	}
	if l.MaxCallbackTime == 0 {
		l.MaxCallbackTime = 10 * time.Second
	}
	if l.StartTimeout <= 0 {
		l.StartTimeout = 30 * time.Second
	}
	if l.PauseTimeout <= 0 {
		l.PauseTimeout = 30 * time.Second
	}
	if l.HTTPCallTimeout <= 0 {
		l.HTTPCallTimeout = 30 * time.Second
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = 256 << 10
	}
	if l.MaxHeaders <= 0 {
		l.MaxHeaders = maxMapPairs
	}
	if l.MaxBodyBytes <= 0 {
		l.MaxBodyBytes = 4 << 20
	}
	if l.MaxValueBytes <= 0 {
		l.MaxValueBytes = 1 << 20
	}
	return l
}

// Plugin is a loaded module run by a pool of VMs. Use Middleware to put it
// in front of a handler, and Close when done. It is safe for concurrent use.
type Plugin struct {
	rt        *Runtime
	cfg       PluginConfig
	limits    Limits
	logger    *slog.Logger
	wr        wazero.Runtime
	compiled  wazero.CompiledModule
	metered   bool // the module carries host/meter's budget checks
	starts    []string
	hasMain   bool
	upstreams map[string]*url.URL
	client    *http.Client
	shared    *sharedData
	metrics   metricSet
	// filterTime is the time each request spent in the plugin's callbacks on its way in and
	// out (not on_log/on_done/on_delete, which run after the response): the latency the filter
	// adds. Exposed by Collector.
	filterTime prometheus.Histogram
	has        exportSet

	ctx    context.Context // cancelled by Close (ends http calls)
	cancel context.CancelFunc

	mu       sync.Mutex // guards vms slot updates against Close
	closed   bool
	vms      []atomic.Pointer[vm]
	rr       atomic.Uint32
	gen      atomic.Uint64
	restarts atomic.Uint64
	bg       sync.WaitGroup // VM replacement goroutines
}

// exportSet records which optional callbacks the module exports, so the hot
// path skips calls (and tasks) the filter does not need.
type exportSet struct {
	requestHeaders, requestBody, requestTrailers    bool
	responseHeaders, responseBody, responseTrailers bool
	log, done, delete                               bool
}

// callback signatures: number of i32 params and results.
var callbackSigs = map[string][2]int{
	"proxy_on_memory_allocate":    {1, 1},
	"malloc":                      {1, 1},
	"proxy_on_context_create":     {2, 0},
	"proxy_on_done":               {1, 1},
	"proxy_on_log":                {1, 0},
	"proxy_on_delete":             {1, 0},
	"proxy_on_vm_start":           {2, 1},
	"proxy_on_configure":          {2, 1},
	"proxy_on_tick":               {1, 0},
	"proxy_on_request_headers":    {3, 1},
	"proxy_on_request_body":       {3, 1},
	"proxy_on_request_trailers":   {2, 1},
	"proxy_on_response_headers":   {3, 1},
	"proxy_on_response_body":      {3, 1},
	"proxy_on_response_trailers":  {2, 1},
	"proxy_on_http_call_response": {5, 0},
	"proxy_on_queue_ready":        {2, 0},
	"main":                        {2, 1},
}

// LoadPlugin compiles the module (once; cached), instantiates cfg.VMs VMs
// with real clocks, crypto/rand and _initialize, and runs
// proxy_on_context_create(root) / proxy_on_vm_start / proxy_on_configure on
// each. A false result from vm_start or configure fails the load with
// ErrStartFailed.
func (r *Runtime) LoadPlugin(ctx context.Context, cfg PluginConfig) (*Plugin, error) {
	if len(cfg.Wasm) == 0 {
		return nil, fmt.Errorf("%w: Wasm is empty (set PluginConfig.Wasm to the module bytes)", ErrInvalidConfig)
	}
	if cfg.VMs < 0 {
		return nil, fmt.Errorf("%w: VMs %d is negative (use 0 for GOMAXPROCS)", ErrInvalidConfig, cfg.VMs)
	}
	if cfg.VMs == 0 {
		cfg.VMs = runtime.GOMAXPROCS(0)
	}
	p := &Plugin{rt: r, cfg: cfg, limits: cfg.Limits.withDefaults()}
	p.filterTime = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:        "proxywasm_filter_duration_seconds",
		Help:        "Time a request spent in the plugin's callbacks (request and response side, guest code and the host calls it made).",
		ConstLabels: prometheus.Labels{"plugin": cfg.Name},
		Buckets:     FilterTimeBuckets,
	})
	p.logger = cfg.Logger
	if p.logger == nil {
		p.logger = r.logger
	}
	p.logger = p.logger.With(slog.String("plugin", cfg.Name))
	p.upstreams = make(map[string]*url.URL, len(cfg.Upstreams))
	for name, raw := range cfg.Upstreams {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("%w: Upstreams[%q] = %q: want an absolute http(s) URL such as \"http://127.0.0.1:9000\"", ErrInvalidConfig, name, raw)
		}
		p.upstreams[name] = u
	}
	pages := p.limits.MaxMemoryBytes / 65536
	if pages < 1 || pages > 65536 {
		return nil, fmt.Errorf("%w: Limits.MaxMemoryBytes %d out of range (64 KiB .. 4 GiB)", ErrInvalidConfig, p.limits.MaxMemoryBytes)
	}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	p.client = &http.Client{
		Transport: http.DefaultTransport.(*http.Transport).Clone(),
		// A callout sees the upstream's answer, as in Envoy: no redirects.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	p.shared = r.sharedDataFor(cfg.VMID)

	// Callback time limit: by default the module is instrumented with an inline budget
	// counter (host/meter), which costs a few instructions per loop iteration; a module the
	// rewrite does not understand falls back to wazero's close-on-context-done, which exits to
	// Go at every loop iteration (2-3x slower guest code, docs/BENCHMARKS.md).
	compiled, err := p.compileMetered(ctx, pages)
	if err != nil {
		return nil, err
	}
	if compiled == nil {
		if err := p.newWazero(ctx, pages, p.limits.MaxCallbackTime > 0); err != nil {
			return nil, err
		}
		compiled, err = p.wr.CompileModule(ctx, cfg.Wasm)
		if err != nil {
			p.cancel()
			_ = p.wr.Close(context.Background())
			return nil, fmt.Errorf("%w: compile: %v", ErrModule, err)
		}
	}
	fail := func(err error) (*Plugin, error) {
		p.cancel()
		_ = p.wr.Close(context.Background())
		return nil, err
	}
	p.compiled = compiled
	if err := p.checkExports(); err != nil {
		return fail(err)
	}
	if err := r.addPlugin(p); err != nil {
		return fail(err)
	}
	p.vms = make([]atomic.Pointer[vm], cfg.VMs)
	for i := range p.vms {
		v, err := p.newVM(ctx, i)
		if err != nil {
			_ = p.Close(context.Background())
			return nil, err
		}
		p.vms[i].Store(v)
	}
	return p, nil
}

// FilterTimeBuckets are the bucket bounds (seconds) of proxywasm_filter_duration_seconds: fine
// from 5 µs, where a cache-hit JWT check lands, to 1 s.
var FilterTimeBuckets = []float64{5e-6, 10e-6, 15e-6, 20e-6, 25e-6, 30e-6, 40e-6, 50e-6, 75e-6, 100e-6,
	150e-6, 200e-6, 300e-6, 500e-6, 750e-6, 1e-3, 2e-3, 5e-3, 10e-3, 50e-3, 100e-3, 1}

// meterModules switches host/meter's instrumentation on; benchmarks turn it off to measure
// what it costs.
var meterModules = true

// compileMetered instruments the module (host/meter) and compiles it in a runtime without
// close-on-context-done. It returns nil (and no error) when the module cannot be metered, so
// the caller compiles it unmetered; an error only when the runtime itself could not be set up.
func (p *Plugin) compileMetered(ctx context.Context, pages uint64) (wazero.CompiledModule, error) {
	if !meterModules {
		return nil, nil // benchmarks compare against the unmetered module
	}
	instrumented, err := meter.Instrument(p.cfg.Wasm)
	if err != nil {
		p.logger.Warn("module not metered; using wazero's slower callback time limit", "reason", err)
		return nil, nil
	}
	if err := p.newWazero(ctx, pages, false); err != nil {
		return nil, err
	}
	compiled, err := p.wr.CompileModule(ctx, instrumented)
	if err != nil {
		p.logger.Warn("the metered module does not compile; using wazero's slower callback time limit", "error", err)
		_ = p.wr.Close(context.Background())
		return nil, nil
	}
	p.metered = true
	return compiled, nil
}

// newWazero creates the plugin's wazero runtime with the host modules the guest may import:
// WASI (both names), env (proxy-wasm) and the meter's tick.
func (p *Plugin) newWazero(ctx context.Context, pages uint64, closeOnDone bool) error {
	rc := wazero.NewRuntimeConfig().
		WithCompilationCache(p.rt.cache).
		WithMemoryLimitPages(uint32(pages)).
		WithCloseOnContextDone(closeOnDone)
	p.wr = wazero.NewRuntimeWithConfig(ctx, rc)
	fail := func(err error) error {
		p.cancel()
		_ = p.wr.Close(context.Background())
		return err
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, p.wr); err != nil {
		return fail(fmt.Errorf("%w: instantiate WASI: %v", ErrModule, err))
	}
	// Older toolchains (AssemblyScript, early Rust) import the pre-release
	// name; proxy-wasm-cpp-host serves both, with the same functions.
	wu := p.wr.NewHostModuleBuilder("wasi_unstable")
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(wu)
	if _, err := wu.Instantiate(ctx); err != nil {
		return fail(fmt.Errorf("%w: instantiate wasi_unstable: %v", ErrModule, err))
	}
	if err := registerEnv(ctx, p.wr); err != nil {
		return fail(fmt.Errorf("%w: register env host module: %v", ErrModule, err))
	}
	if err := registerMeter(ctx, p.wr); err != nil {
		return fail(fmt.Errorf("%w: register meter host module: %v", ErrModule, err))
	}
	return nil
}

func (p *Plugin) checkExports() error {
	exps := p.compiled.ExportedFunctions()
	if _, ok := exps[abiMarker021]; !ok {
		if _, ok := exps[abiMarker020]; !ok {
			return fmt.Errorf("%w: the module exports neither %s nor %s; build it with a proxy-wasm SDK for ABI 0.2.x",
				ErrABIVersion, abiMarker021, abiMarker020)
		}
	}
	for name, sig := range callbackSigs {
		def, ok := exps[name]
		if !ok {
			continue
		}
		if !allI32(def.ParamTypes(), sig[0]) || !allI32(def.ResultTypes(), sig[1]) {
			return fmt.Errorf("%w: export %s has signature %v -> %v, want %d i32 params and %d i32 results",
				ErrModule, name, def.ParamTypes(), def.ResultTypes(), sig[0], sig[1])
		}
	}
	_, hasAlloc := exps["proxy_on_memory_allocate"]
	_, hasMalloc := exps["malloc"]
	if !hasAlloc && !hasMalloc {
		return fmt.Errorf("%w: the module exports no proxy_on_memory_allocate (nor malloc)", ErrModule)
	}
	if _, ok := exps["_initialize"]; ok {
		p.starts = []string{"_initialize"}
		_, p.hasMain = exps["main"]
	} else if _, ok := exps["_start"]; ok {
		p.starts = []string{"_start"}
	} else {
		p.starts = []string{}
	}
	has := func(n string) bool { _, ok := exps[n]; return ok }
	p.has = exportSet{
		requestHeaders: has("proxy_on_request_headers"), requestBody: has("proxy_on_request_body"),
		requestTrailers: has("proxy_on_request_trailers"), responseHeaders: has("proxy_on_response_headers"),
		responseBody: has("proxy_on_response_body"), responseTrailers: has("proxy_on_response_trailers"),
		log: has("proxy_on_log"), done: has("proxy_on_done"), delete: has("proxy_on_delete"),
	}
	return nil
}

func allI32(ts []api.ValueType, n int) bool {
	if len(ts) != n {
		return false
	}
	for _, t := range ts {
		if t != api.ValueTypeI32 {
			return false
		}
	}
	return true
}

// pick returns the live VM with the fewest requests in flight, starting the
// scan at a rotating index so equal loads spread round-robin.
func (p *Plugin) pick() *vm {
	n := len(p.vms)
	start := int(p.rr.Add(1)) % n
	var best *vm
	bestLoad := int32(1 << 30)
	for i := 0; i < n; i++ {
		v := p.vms[(start+i)%n].Load()
		if v == nil || v.dead.Load() {
			continue
		}
		if l := v.inflight.Load(); l < bestLoad {
			best, bestLoad = v, l
			if l == 0 {
				break
			}
		}
	}
	return best
}

// replace starts a new VM in slot after the old one died, retrying with
// backoff until it starts or the plugin closes.
func (p *Plugin) replace(slot int) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.bg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.bg.Done()
		backoff := 10 * time.Millisecond
		for {
			if p.ctx.Err() != nil {
				return
			}
			v, err := p.newVM(p.ctx, slot)
			if err == nil {
				p.mu.Lock()
				if p.closed {
					p.mu.Unlock()
					v.stop()
					return
				}
				p.vms[slot].Store(v)
				p.mu.Unlock()
				p.restarts.Add(1)
				p.logger.Info("proxy-wasm VM replaced", slog.Int("vm", slot))
				return
			}
			p.logger.Error("proxy-wasm VM restart failed; retrying", slog.Int("vm", slot), slog.Any("error", err))
			select {
			case <-time.After(backoff):
			case <-p.ctx.Done():
				return
			}
			if backoff < 5*time.Second {
				backoff *= 2
			}
		}
	}()
}

// Close drains the plugin and releases it: it waits (until ctx ends) for
// the requests in flight to finish and for the workers to run their
// pending callbacks (on_log, on_done, on_delete), then stops the VMs,
// cancels pending HTTP calls and closes the module. Requests still in
// flight when ctx ends fail (503, or pass with FailOpen). Stop routing new
// requests to the plugin before calling Close. It is idempotent.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.drain(ctx)
	p.cancel()
	p.bg.Wait()
	for i := range p.vms {
		if v := p.vms[i].Load(); v != nil {
			v.stop()
		}
	}
	p.rt.removePlugin(p)
	p.client.CloseIdleConnections()
	err := p.wr.Close(context.Background())
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// drain waits for in-flight requests, then for each worker's queue.
func (p *Plugin) drain(ctx context.Context) {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for p.inFlight() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	for i := range p.vms {
		v := p.vms[i].Load()
		if v == nil || v.dead.Load() {
			continue
		}
		done := make(chan struct{})
		if !v.post(ctx, task{kind: taskFunc, fn: func(*vm) { close(done) }}) {
			continue
		}
		select {
		case <-done:
		case <-v.deadCh:
		case <-ctx.Done():
			return
		}
	}
}

func (p *Plugin) inFlight() int {
	n := 0
	for i := range p.vms {
		if v := p.vms[i].Load(); v != nil {
			n += int(v.inflight.Load())
		}
	}
	return n
}

// PluginInfo is a snapshot of a plugin's state, for admin views.
type PluginInfo struct {
	Name, RootID, VMID string
	VMs                int    // configured instances
	LiveVMs            int    // instances running now
	Restarts           uint64 // instances replaced after a failure
	InFlight           int    // requests being filtered
	FailOpen           bool
	Limits             Limits // with defaults applied
}

// Info returns a snapshot of the plugin's state.
func (p *Plugin) Info() PluginInfo {
	live := 0
	for i := range p.vms {
		if v := p.vms[i].Load(); v != nil && !v.dead.Load() {
			live++
		}
	}
	return PluginInfo{
		Name: p.cfg.Name, RootID: p.cfg.RootID, VMID: p.cfg.VMID,
		VMs: len(p.vms), LiveVMs: live, Restarts: p.restarts.Load(),
		InFlight: p.inFlight(), FailOpen: p.cfg.FailOpen, Limits: p.limits,
	}
}
