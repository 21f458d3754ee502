package host

import (
	"context"
	dto "github.com/prometheus/client_model/go"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRequestHeaderLimit(t *testing.T) {
	e := newEnv(t, func(c *PluginConfig) { c.Limits.MaxHeaderBytes = 512 })
	if res := e.do("pass", "X-Big", strings.Repeat("a", 1000)); res.code != 431 {
		t.Fatalf("status %d, want 431", res.code)
	}
	if res := e.do("pass"); res.code != 200 {
		t.Fatalf("status %d, want 200", res.code)
	}
}

func TestPrometheusCollector(t *testing.T) {
	e := newEnv(t, nil)
	if res := e.do("metrics"); res.code != 200 {
		t.Fatal(res.code)
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(e.p.Collector()); err != nil {
		t.Fatal(err)
	}
	// The filter-time sample is recorded when the stream's on_delete ran, which may be just
	// after the client got its answer.
	waitFor(t, func() bool { return histCount(e.p.filterTime) == 1 })
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetValue() != "test-plugin" {
				t.Errorf("%s: labels %v", mf.GetName(), m.GetLabel())
			}
			switch {
			case m.Counter != nil:
				got[mf.GetName()] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				got[mf.GetName()] = m.GetGauge().GetValue()
			case m.Histogram != nil && mf.GetName() == "proxywasm_filter_duration_seconds":
				got[mf.GetName()] = float64(m.GetHistogram().GetSampleCount())
				if sum := m.GetHistogram().GetSampleSum(); sum <= 0 || sum > 10 {
					t.Errorf("filter time sum %v s", sum)
				}
			case m.Histogram != nil:
				got[mf.GetName()] = float64(m.GetHistogram().GetSampleCount())
				if m.GetHistogram().GetSampleSum() != 42 {
					t.Errorf("hist sum %v", m.GetHistogram().GetSampleSum())
				}
			}
		}
	}
	// One request, finished: one filter-time sample (recorded when the stream ends).
	for name, want := range map[string]float64{"req_counter": 5, "gauge": 7, "hist": 1, "created": 1, "proxywasm_filter_duration_seconds": 1} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v (all: %v)", name, got[name], want, got)
		}
	}
	if promName("wasmcustom.jwt.ok-total") != "jwt_ok_total" || promName("9a") != "_a" {
		t.Fatal("promName")
	}
}

// TestChain runs two plugins (two Middleware) in order: the outer one adds a
// header the inner one sees, and a local reply from the inner one passes
// through the outer one's response callbacks.
func TestChain(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, nil)
	inner, err := e.rt.LoadPlugin(ctx, PluginConfig{Name: "inner", VMID: "inner", Wasm: testGuest(t), VMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close(ctx)
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "added="+strings.Join(r.Header.Values("X-Added"), ","))
	})
	h := e.p.Middleware(inner.Middleware(backend))
	req := httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("X-Test", "modify") // both plugins run the "modify" scenario
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Body.String() != "added=yes,yes" {
		t.Fatalf("%d %q, want both plugins' header", rec.Code, rec.Body.String())
	}
	req = httptest.NewRequest("GET", "/x", nil)
	req.Header.Set("X-Test", "local")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 403 {
		t.Fatalf("chain local reply: %d", rec.Code)
	}
}

// trailerBody sets a request trailer once the body is read.
type trailerBody struct {
	r   io.Reader
	req *http.Request
	val string
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.req.Trailer.Set("X-Trl", b.val)
	}
	return n, err
}

func TestTrailers(t *testing.T) {
	e := newEnv(t, nil)
	send := func(test string) (*http.Response, string) {
		req, _ := http.NewRequest("POST", e.front.URL+"/trl", nil)
		req.Body = io.NopCloser(&trailerBody{r: strings.NewReader("payload"), req: req, val: "t1"})
		req.ContentLength = -1
		req.Trailer = http.Header{"X-Trl": nil}
		req.Header.Set("X-Test", test)
		req.Header.Set("X-Want-Trailer", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := send("req-trailers")
	if resp.StatusCode != 200 || !strings.Contains(body, "trailer x-trl=t1-seen-0-1\n") || !strings.Contains(body, "trailer x-trl-added=1\n") || !strings.Contains(body, "body=payload") {
		t.Fatalf("request trailers: %d %q", resp.StatusCode, body)
	}
	resp, body = send("resp-trailers")
	if resp.StatusCode != 200 || resp.Trailer.Get("X-Resp-Trl") != "saw-bt" || resp.Trailer.Get("X-Backend-Trl") != "" {
		t.Fatalf("response trailers: %d %v %q", resp.StatusCode, resp.Trailer, body)
	}
	resp, body = send("req-trailers-deny")
	if resp.StatusCode != 403 || body != "trailer denied" {
		t.Fatalf("deny in trailers: %d %q", resp.StatusCode, body)
	}
	waitMetric(t, e.p, "deleted", func(n int64) bool { return n == 3 })
}

// TestTrapIsolation: a VM that dies does not fail requests in flight on the
// other VMs; they finish normally.
func TestTrapIsolation(t *testing.T) {
	e := newEnv(t, func(c *PluginConfig) { c.VMs = 2; c.Limits.PauseTimeout = 700 * time.Millisecond })
	paused := make(chan result, 1)
	go func() { paused <- e.do("pause-forever") }()
	// Wait until the paused request sits on one VM.
	waitFor(t, func() bool {
		for i := range e.p.vms {
			if v := e.p.vms[i].Load(); v != nil && v.inflight.Load() == 1 {
				return true
			}
		}
		return false
	})
	start := time.Now()
	if res := e.do("trap"); res.code != 503 { // least busy: the other VM
		t.Fatalf("trap: %d", res.code)
	}
	res := <-paused
	if res.code != 503 || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("paused request ended early (%v, %d): the trap on the other VM leaked into it", time.Since(start), res.code)
	}
	for i := 0; i < 4; i++ {
		if res := e.do("pass"); res.code != 200 {
			t.Fatalf("after: %d", res.code)
		}
	}
}

// TestCloseDrains: Close waits for a request in flight (paused on a
// callout to a slow upstream) to finish instead of failing it.
func TestCloseDrains(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "late")
	}))
	defer slow.Close()
	e := newEnv(t, func(c *PluginConfig) { c.VMs = 1; c.Upstreams["backend"] = slow.URL })
	got := make(chan result, 1)
	go func() { got <- e.do("callout") }()
	waitFor(t, func() bool { return e.p.Info().InFlight == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.p.Close(ctx); err != nil {
		t.Fatal(err)
	}
	res := <-got
	if res.code != 200 || !strings.Contains(res.body, "x-callout-body: late") {
		t.Fatalf("in-flight request during Close: %d %q", res.code, res.body)
	}
	if n := metricValue(e.p, "deleted"); n != 1 {
		t.Fatalf("on_delete ran %d times before the VM stopped, want 1", n)
	}
	info := e.p.Info()
	if info.Name != "test-plugin" || info.VMs != 1 || info.Limits.MaxCallbackTime != 10*time.Second {
		t.Fatalf("Info %+v", info)
	}
}

// TestMemoryLimit: a guest that grows past Limits.MaxMemoryBytes dies (its
// runtime cannot grow memory), the request fails closed, the VM is replaced.
func TestMemoryLimit(t *testing.T) {
	e := newEnv(t, func(c *PluginConfig) { c.VMs = 1; c.Limits.MaxMemoryBytes = 64 << 20 })
	if res := e.do("oom"); res.code != 503 {
		t.Fatalf("oom: %d, want 503", res.code)
	}
	waitFor(t, func() bool { i := e.p.Info(); return i.Restarts == 1 && i.LiveVMs == 1 })
	if v := e.p.vms[0].Load(); v.mem.Size() > 64<<20 {
		t.Fatalf("memory %d over the limit", v.mem.Size())
	}
	if res := e.do("pass"); res.code != 200 {
		t.Fatalf("after: %d", res.code)
	}
}

// histCount is the sample count of h.
func histCount(h prometheus.Histogram) uint64 {
	var m dto.Metric
	if err := h.Write(&m); err != nil {
		return 0
	}
	return m.GetHistogram().GetSampleCount()
}
