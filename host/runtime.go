package host

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/tetratelabs/wazero"
)

// RuntimeConfig configures a Runtime. The zero value is usable.
type RuntimeConfig struct {
	// CacheDir is a directory for wazero's compilation cache, so a module is
	// compiled to machine code once and reused across restarts. "" keeps the
	// cache in memory only.
	CacheDir string
	// Logger receives host and plugin logs; nil means slog.Default().
	Logger *slog.Logger
}

// Runtime compiles modules (once, cached) and holds what plugins that share a
// vm_id share: shared data and shared queues. It is safe for concurrent use.
type Runtime struct {
	cache  wazero.CompilationCache
	logger *slog.Logger

	mu      sync.Mutex
	closed  bool
	plugins map[*Plugin]struct{}
	shared  map[string]*sharedData // by vm_id
	queues  queueRegistry
}

// NewRuntime returns a Runtime. With cfg.CacheDir set, compiled code is kept
// on disk there (the directory is created if needed).
func NewRuntime(ctx context.Context, cfg RuntimeConfig) (*Runtime, error) {
	r := &Runtime{
		logger:  cfg.Logger,
		plugins: make(map[*Plugin]struct{}),
		shared:  make(map[string]*sharedData),
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	r.queues.init()
	if cfg.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("%w: CacheDir %q: %v (use a writable directory or \"\")", ErrInvalidConfig, cfg.CacheDir, err)
		}
		r.cache = c
	} else {
		r.cache = wazero.NewCompilationCache()
	}
	return r, nil
}

// Close closes every plugin still loaded and releases the compilation cache.
func (r *Runtime) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	ps := make([]*Plugin, 0, len(r.plugins))
	for p := range r.plugins {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	var first error
	for _, p := range ps {
		if err := p.Close(ctx); err != nil && first == nil {
			first = err
		}
	}
	if err := r.cache.Close(ctx); err != nil && first == nil {
		first = err
	}
	return first
}

// sharedDataFor returns the shared key-value store of a vm_id.
func (r *Runtime) sharedDataFor(vmID string) *sharedData {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.shared[vmID]
	if s == nil {
		s = &sharedData{m: make(map[string]sharedEntry)}
		r.shared[vmID] = s
	}
	return s
}

func (r *Runtime) addPlugin(p *Plugin) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ErrClosed
	}
	r.plugins[p] = struct{}{}
	return nil
}

func (r *Runtime) removePlugin(p *Plugin) {
	r.mu.Lock()
	delete(r.plugins, p)
	r.mu.Unlock()
}
