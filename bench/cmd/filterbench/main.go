// Command filterbench measures the cost of a proxy-wasm filter inside our host without any
// network: requests go straight through Plugin.Middleware to a handler that answers 200, one at
// a time, on 1 VM. It reports wall time and process CPU time per request (getrusage), which stay
// meaningful on a busy shared machine where wrk numbers do not.
//
// With -guestprof it also samples where the guest spends its time: a wazero function listener
// keeps a shadow call stack of the guest and a goroutine samples its top every 50 µs. The
// listener slows every guest call, so the shares are indicative; the exact part is the number
// of guest function calls per request.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatewarden/gatewarden/host"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

func main() {
	wasmPath := flag.String("wasm", "build/gatewarden.wasm", "filter module")
	configPath := flag.String("config", "build/bench/plugin-cache-on.json", "plugin configuration JSON")
	tokenPath := flag.String("tokens", "build/bench/tokens/rs256-1.txt", "token file (one per line)")
	n := flag.Int("n", 5000, "requests to measure")
	callbackLimit := flag.Duration("callback-limit", 0, "host Limits.MaxCallbackTime (0 = default 2s; <0 = off, no wazero close-on-context-done)")
	guestProf := flag.Bool("guestprof", false, "sample the guest's call stack (slow; indicative)")
	top := flag.Int("top", 30, "functions to print with -guestprof")
	cpuProfile := flag.String("cpuprofile", "", "write a Go CPU profile of the measured requests (host side; guest code shows as _ExternalCode)")
	cacheDir := flag.String("cache-dir", "build/bench/wazero-cache", "wazero compilation cache (not used with -guestprof)")
	flag.Parse()

	wasm, err := os.ReadFile(*wasmPath)
	check(err)
	cfg, err := os.ReadFile(*configPath)
	check(err)
	raw, err := os.ReadFile(*tokenPath)
	check(err)
	tokens := strings.Fields(string(raw))

	ctx := context.Background()
	var prof *profiler
	if *guestProf {
		prof = &profiler{index: map[string]int{}}
		ctx = experimental.WithFunctionListenerFactory(ctx, prof)
		*cacheDir = ""
	}
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	rt, err := host.NewRuntime(ctx, host.RuntimeConfig{CacheDir: *cacheDir, Logger: quiet})
	check(err)
	pl, err := rt.LoadPlugin(ctx, host.PluginConfig{Name: "gatewarden", RootID: "gatewarden", VMID: "fb",
		Wasm: wasm, Configuration: cfg, VMs: 1, Logger: quiet,
		Limits: host.Limits{MaxCallbackTime: *callbackLimit}})
	check(err)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	h := pl.Middleware(ok)
	do := func(i int) int {
		req := httptest.NewRequest("GET", "http://bench.local/api/items", nil)
		req.Header.Set("Authorization", "Bearer "+tokens[i%len(tokens)])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	statuses := map[int]int{}
	for i := 0; i < 200; i++ {
		statuses[do(i)]++
	}
	if prof != nil {
		prof.start()
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		check(err)
		check(pprof.StartCPUProfile(f))
		defer f.Close()
	}
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	t0 := time.Now()
	for i := 0; i < *n; i++ {
		statuses[do(i)]++
	}
	wall := time.Since(t0)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	if prof != nil {
		prof.stop()
	}
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	cpu := tv(ru1.Utime) - tv(ru0.Utime) + tv(ru1.Stime) - tv(ru0.Stime)
	fmt.Printf("requests %d  statuses %v\nwall %.1f us/request  cpu %.1f us/request (process, all threads)\n",
		*n, statuses, float64(wall.Microseconds())/float64(*n), float64(cpu.Microseconds())/float64(*n))
	if prof != nil {
		prof.report(*n, *top)
	}
}

func tv(t syscall.Timeval) time.Duration {
	return time.Duration(t.Sec)*time.Second + time.Duration(t.Usec)*time.Microsecond
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// profiler is a FunctionListenerFactory keeping one shadow stack (1 VM, one request at a time).
type profiler struct {
	mu      sync.Mutex
	index   map[string]int
	names   []string
	calls   []int64
	stack   []int
	self    []int64
	incl    []int64
	samples int64
	on      atomic.Bool
	done    chan struct{}
}

func (p *profiler) NewFunctionListener(def api.FunctionDefinition) experimental.FunctionListener {
	name := def.DebugName()
	p.mu.Lock()
	defer p.mu.Unlock()
	id, ok := p.index[name]
	if !ok {
		id = len(p.names)
		p.index[name] = id
		p.names = append(p.names, name)
		p.calls = append(p.calls, 0)
		p.self = append(p.self, 0)
		p.incl = append(p.incl, 0)
	}
	return &listener{p: p, id: id}
}

type listener struct {
	p  *profiler
	id int
}

func (l *listener) Before(context.Context, api.Module, api.FunctionDefinition, []uint64, experimental.StackIterator) {
	p := l.p
	p.mu.Lock()
	p.stack = append(p.stack, l.id)
	if p.on.Load() {
		p.calls[l.id]++
	}
	p.mu.Unlock()
}

func (l *listener) After(context.Context, api.Module, api.FunctionDefinition, []uint64) { l.pop() }
func (l *listener) Abort(context.Context, api.Module, api.FunctionDefinition, error)    { l.pop() }

func (l *listener) pop() {
	p := l.p
	p.mu.Lock()
	if len(p.stack) > 0 {
		p.stack = p.stack[:len(p.stack)-1]
	}
	p.mu.Unlock()
}

func (p *profiler) start() {
	p.on.Store(true)
	p.done = make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Microsecond)
		defer t.Stop()
		seen := map[int]bool{}
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
			}
			p.mu.Lock()
			if len(p.stack) > 0 {
				p.samples++
				p.self[p.stack[len(p.stack)-1]]++
				clear(seen)
				for _, id := range p.stack {
					if !seen[id] {
						seen[id] = true
						p.incl[id]++
					}
				}
			}
			p.mu.Unlock()
		}
	}()
}

func (p *profiler) stop() { p.on.Store(false); close(p.done) }

func (p *profiler) report(n, top int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Printf("\nguest samples (in guest code): %d\n", p.samples)
	show := func(title string, v []int64) {
		ids := make([]int, len(p.names))
		for i := range ids {
			ids[i] = i
		}
		sort.Slice(ids, func(a, b int) bool { return v[ids[a]] > v[ids[b]] })
		fmt.Printf("\n%s\n", title)
		for _, id := range ids[:min(top, len(ids))] {
			if v[id] == 0 {
				break
			}
			fmt.Printf("  %6.1f%%  self %5.1f%%  calls/req %8.1f  %s\n",
				100*float64(p.incl[id])/float64(max(p.samples, 1)), 100*float64(p.self[id])/float64(max(p.samples, 1)),
				float64(p.calls[id])/float64(n), p.names[id])
		}
	}
	show("by self samples (incl%, self%, calls per request, function):", p.self)
	show("by inclusive samples:", p.incl)
	var total int64
	for _, c := range p.calls {
		total += c
	}
	fmt.Printf("\nguest function calls per request: %.0f\n", float64(total)/float64(n))
}
