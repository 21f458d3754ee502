package host

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// Benchmarks of the host: the cost a request pays for a filter, and the
// cost of single host calls. Results and commands: docs/BENCHMARKS.md, "host".

func benchPlugin(b *testing.B, mutate func(*PluginConfig)) *Plugin {
	b.Helper()
	e := newEnv(b, func(c *PluginConfig) {
		c.VMs = 1
		if mutate != nil {
			mutate(c)
		}
	})
	return e.p
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "ok")
})

func benchRequests(b *testing.B, h http.Handler, test string) {
	req := httptest.NewRequest("GET", "/api/items?id=1", nil)
	req.Header.Set("X-Test", test)
	req.Header.Set("Authorization", "Bearer aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	req.Header.Set("User-Agent", "bench")
	req.Header.Set("Accept", "*/*")
	benchRequestsWith(b, h, req)
}

func benchRequestsWith(b *testing.B, h http.Handler, req *http.Request) {
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkRequestBare is the baseline: the handler alone.
func BenchmarkRequestBare(b *testing.B) { benchRequests(b, okHandler, "pass") }

// BenchmarkRequestFilter is one request through the test guest: context
// create, request headers (one header read), response headers, log, done,
// delete: six guest callbacks and one host call that allocates in the guest.
func BenchmarkRequestFilter(b *testing.B) {
	p := benchPlugin(b, nil)
	benchRequests(b, p.Middleware(okHandler), "pass")
}

// BenchmarkRequestFilterNoTimeLimit is the same with MaxCallbackTime off.
func BenchmarkRequestFilterNoTimeLimit(b *testing.B) {
	p := benchPlugin(b, func(c *PluginConfig) { c.Limits.MaxCallbackTime = -1 })
	benchRequests(b, p.Middleware(okHandler), "pass")
}

// BenchmarkRequestFilterModify adds, replaces and removes request headers
// and rewrites :path, so the request is rebuilt.
func BenchmarkRequestFilterModify(b *testing.B) {
	p := benchPlugin(b, nil)
	benchRequests(b, p.Middleware(okHandler), "modify")
}

// BenchmarkRequestFilterParallel spreads requests over 2 VMs.
func BenchmarkRequestFilterParallel(b *testing.B) {
	p := benchPlugin(b, func(c *PluginConfig) { c.VMs = 2 })
	h := p.Middleware(okHandler)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		req := httptest.NewRequest("GET", "/api/items?id=1", nil)
		req.Header.Set("X-Test", "pass")
		for pb.Next() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
		}
	})
}

// benchGuest calls a guest benchmark export with n iterations on the
// worker, in a stream context, and reports the time per iteration.
func benchGuest(b *testing.B, export string, limit time.Duration) {
	p := benchPlugin(b, func(c *PluginConfig) { c.Limits.MaxCallbackTime = limit })
	run, _ := withVMOf(b, p)
	const n = 1000
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += n {
		run(func(v *vm) {
			f := v.mod.ExportedFunction(export)
			if _, ok := v.call(f, n); !ok {
				b.Fatal(v.broken)
			}
		})
	}
}

func BenchmarkGuestExportCall(b *testing.B) {
	p := benchPlugin(b, nil)
	run, _ := withVMOf(b, p)
	b.ReportAllocs()
	run(func(v *vm) {
		f := v.mod.ExportedFunction("bench_noop")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			v.call(f, 1)
		}
	})
}

func BenchmarkGuestExportCallNoTimeLimit(b *testing.B) {
	p := benchPlugin(b, func(c *PluginConfig) { c.Limits.MaxCallbackTime = -1 })
	run, _ := withVMOf(b, p)
	b.ReportAllocs()
	run(func(v *vm) {
		f := v.mod.ExportedFunction("bench_noop")
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			v.call(f, 1)
		}
	})
}

// BenchmarkHostCallPlain: proxy_get_log_level, a host call that writes one u32.
func BenchmarkHostCallPlain(b *testing.B) { benchGuest(b, "bench_plain", 0) }

// BenchmarkHostCallGetHeader: proxy_get_header_map_value, which re-enters
// the guest (proxy_on_memory_allocate) to return the value.
func BenchmarkHostCallGetHeader(b *testing.B) { benchGuest(b, "bench_get_header", 0) }

// BenchmarkHostCallGetHeaderNoTimeLimit: the same with MaxCallbackTime off.
func BenchmarkHostCallGetHeaderNoTimeLimit(b *testing.B) { benchGuest(b, "bench_get_header", -1) }

// BenchmarkHostCallGetPairs: proxy_get_header_map_pairs (serialize ~8 headers).
func BenchmarkHostCallGetPairs(b *testing.B) { benchGuest(b, "bench_get_pairs", 0) }

// BenchmarkNewVM: instantiate + _initialize + context_create/vm_start/configure.
func BenchmarkNewVM(b *testing.B) {
	p := benchPlugin(b, nil)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v, err := p.newVM(context.Background(), 0)
		if err != nil {
			b.Fatal(err)
		}
		v.stop()
	}
}

// BenchmarkWorkerRoundTrip: post a task to a VM's worker and wait for it,
// the hand-off every request pays twice (request and response headers).
func BenchmarkWorkerRoundTrip(b *testing.B) {
	p := benchPlugin(b, nil)
	v := p.vms[0].Load()
	done := make(chan struct{}, 1)
	fn := func(*vm) { done <- struct{}{} }
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		v.tasks <- task{kind: taskFunc, fn: fn}
		<-done
	}
}
