package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test guest (testdata/guest) is built once per test binary.
var (
	guestOnce sync.Once
	guestWasm []byte
	guestErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

func testGuest(tb testing.TB) []byte {
	tb.Helper()
	guestOnce.Do(func() {
		buildDir, guestErr = os.MkdirTemp("", "host-guest-")
		if guestErr != nil {
			return
		}
		out := filepath.Join(buildDir, "guest.wasm")
		cmd := exec.Command(goTool(), "build", "-buildmode=c-shared", "-o", out, "./testdata/guest")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			guestErr = fmt.Errorf("build test guest: %v\n%s", err, b)
			return
		}
		guestWasm, guestErr = os.ReadFile(out)
	})
	if guestErr != nil {
		tb.Fatal(guestErr)
	}
	return guestWasm
}

func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "go"
}

// quietLogger drops logs below ERROR unless -v.
func quietLogger() *slog.Logger {
	lvl := slog.LevelError + 8
	if testing.Verbose() {
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
}

// backend echoes request headers as "k: v" lines and answers /callout.
func newBackend(tb testing.TB) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			// 50 chunks over ~50 ms, so a filter decision lands mid-body.
			for i := 0; i < 50; i++ {
				fmt.Fprintf(w, "chunk%02d;", i)
				w.(http.Flusher).Flush()
				time.Sleep(time.Millisecond)
			}
			return
		}
		if strings.HasPrefix(r.URL.Path, "/callout") {
			w.Header().Set("X-Callout", "yes")
			w.WriteHeader(200)
			fmt.Fprintf(w, "cb:%s:%s:%s", r.Host, r.URL.RawQuery, r.Header.Get("X-From"))
			return
		}
		w.Header().Set("X-Drop", "1")
		w.Header().Set("X-Backend", "1")
		if r.Header.Get("X-Want-Trailer") != "" {
			w.Header().Set("Trailer", "X-Backend-Trl")
		}
		if r.Method == "POST" {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "body=%s\n", b)
			fmt.Fprintf(w, "bodylen=%d\n", len(b))
			for k, vs := range r.Trailer {
				fmt.Fprintf(w, "trailer %s=%s\n", strings.ToLower(k), strings.Join(vs, ","))
			}
		}
		defer func() {
			if r.Header.Get("X-Want-Trailer") != "" {
				w.Header().Set("X-Backend-Trl", "bt")
			}
		}()
		fmt.Fprintf(w, "path=%s\n", r.URL.RequestURI())
		fmt.Fprintf(w, "host=%s\n", r.Host)
		for k, vs := range r.Header {
			for _, v := range vs {
				fmt.Fprintf(w, "%s: %s\n", strings.ToLower(k), v)
			}
		}
	}))
	tb.Cleanup(srv.Close)
	return srv
}

type env struct {
	rt      *Runtime
	p       *Plugin
	backend *httptest.Server
	front   *httptest.Server
}

func newEnv(tb testing.TB, mutate func(*PluginConfig)) *env {
	tb.Helper()
	ctx := context.Background()
	wasm := testGuest(tb)
	rt, err := NewRuntime(ctx, RuntimeConfig{CacheDir: filepath.Join(buildDir, "cache"), Logger: quietLogger()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { rt.Close(ctx) })
	backend := newBackend(tb)
	cfg := PluginConfig{
		Name: "test-plugin", RootID: "root-1", VMID: "vm-" + tb.Name(),
		Wasm:            wasm,
		Configuration:   []byte("hello-config"),
		VMConfiguration: []byte("vm-config"),
		VMs:             2,
		Upstreams:       map[string]string{"backend": backend.URL, "dead": "http://127.0.0.1:1"},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	p, err := rt.LoadPlugin(ctx, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Close(ctx) })
	// The front server proxies to the backend through the plugin.
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ri := RequestInfoFrom(r.Context()); ri != nil {
			ri.SetUpstream(strings.TrimPrefix(backend.URL, "http://"))
		}
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, backend.URL+r.URL.RequestURI(), r.Body)
		req.Header = r.Header.Clone()
		req.Host = r.Host
		req.Trailer = r.Trailer
		if r.ContentLength >= 0 && r.Body != http.NoBody {
			req.ContentLength = r.ContentLength
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		for k, vs := range resp.Header {
			w.Header()[k] = vs
		}
		for k := range resp.Trailer { // announce trailers, as httputil.ReverseProxy does
			w.Header().Add("Trailer", k)
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		for k, vs := range resp.Trailer {
			w.Header()[k] = vs
		}
	})
	// As a gateway does: the route and the upstream's name for route_name and cluster_name.
	mw := p.Middleware(next)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mw.ServeHTTP(w, r.WithContext(WithRequestInfo(r.Context(), &RequestInfo{Route: "test-route", Cluster: "backend"})))
	}))
	tb.Cleanup(front.Close)
	return &env{rt: rt, p: p, backend: backend, front: front}
}

type result struct {
	code   int
	body   string
	header http.Header
	err    error
}

func (e *env) do(test string, hdr ...string) result {
	req, _ := http.NewRequest("GET", e.front.URL+"/some/path?a=b", nil)
	req.Header.Set("X-Test", test)
	req.Header.Set("X-Request-Id", "req-123")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{code: resp.StatusCode, body: string(b), header: resp.Header, err: err}
}

func (e *env) post(test, body string) result {
	req, _ := http.NewRequest("POST", e.front.URL+"/post", strings.NewReader(body))
	req.Header.Set("X-Test", test)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{code: resp.StatusCode, body: string(b), header: resp.Header, err: err}
}

func TestBodies(t *testing.T) {
	e := newEnv(t, nil)
	big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB, many chunks
	tests := []struct {
		name, test, body string
		code             int
		contains         []string
		headers          map[string]string
	}{
		{"request body buffered and replaced", "req-body-upper", "hello body", 200, []string{"body=HELLO BODY!\n", "bodylen=11"}, nil},
		{"request body streamed unchanged", "req-body-stream", big, 200, []string{"bodylen=1048576"}, nil},
		{"paused headers released by body", "req-body-gate", "please allow me", 200, []string{"body=please allow me"}, nil},
		{"paused headers denied by body", "req-body-gate", "no thanks", 403, []string{"body denied"}, nil},
		{"local reply from request body", "req-body-local", "x", 413, []string{"too big for me"}, nil},
		{"response body buffered and replaced", "resp-body-upper", "abc", 200, []string{"BODY=ABC", "PATH=/POST"}, nil},
		{"response headers held until body end", "resp-body-held", "abc", 200, []string{"body=abc"}, map[string]string{"X-Body-Len": "<len>"}},
		{"local reply from held response body", "resp-body-local", "abc", 418, []string{"teapot body"}, nil},
		{"no body callbacks needed", "pass", "plain", 200, []string{"body=plain"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.post(tt.test, tt.body)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.code != tt.code {
				t.Fatalf("status %d, want %d; body %.300q", res.code, tt.code, res.body)
			}
			for _, c := range tt.contains {
				if !strings.Contains(res.body, c) {
					t.Errorf("body lacks %q: %.300q", c, res.body)
				}
			}
			for k, v := range tt.headers {
				if v == "<len>" {
					v = strconv.Itoa(len(res.body))
				}
				if got := res.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
	if n := e.metric("body_chunks"); n < 2 {
		t.Errorf("streamed body came in %d chunks, want several", n)
	}
}

func TestBodyTooLarge(t *testing.T) {
	e := newEnv(t, func(c *PluginConfig) { c.Limits.MaxBodyBytes = 1000 })
	if res := e.post("req-body-upper", strings.Repeat("x", 5000)); res.code != 413 {
		t.Fatalf("status %d, want 413", res.code)
	}
	if res := e.post("req-body-gate", strings.Repeat("x", 5000)); res.code != 413 {
		t.Fatalf("paused: status %d, want 413", res.code)
	}
}

func TestLoadPluginErrors(t *testing.T) {
	ctx := context.Background()
	wasm := testGuest(t)
	rt, err := NewRuntime(ctx, RuntimeConfig{CacheDir: filepath.Join(buildDir, "cache"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(ctx)
	tests := []struct {
		name string
		cfg  PluginConfig
		want error
	}{
		{"empty wasm", PluginConfig{}, ErrInvalidConfig},
		{"not wasm", PluginConfig{Wasm: []byte("nope")}, ErrModule},
		{"no ABI marker", PluginConfig{Wasm: []byte("\x00asm\x01\x00\x00\x00")}, ErrABIVersion},
		{"configure returns false", PluginConfig{Wasm: wasm, Configuration: []byte("fail-configure"), VMs: 1}, ErrStartFailed},
		{"configure traps", PluginConfig{Wasm: wasm, Configuration: []byte("trap-configure"), VMs: 1}, ErrStartFailed},
		{"bad upstream", PluginConfig{Wasm: wasm, Upstreams: map[string]string{"x": "127.0.0.1:80"}}, ErrInvalidConfig},
		{"negative VMs", PluginConfig{Wasm: wasm, VMs: -1}, ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := rt.LoadPlugin(ctx, tt.cfg)
			if err == nil {
				p.Close(ctx)
				t.Fatal("LoadPlugin succeeded")
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// A good load after failures, with the disk cache.
	p, err := rt.LoadPlugin(ctx, PluginConfig{Wasm: wasm, VMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	p.Close(ctx)
}

// TestABI is the conformance table: each row drives one scenario of the
// test guest and checks what the host did.
func TestABI(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name     string
		hdr      []string
		code     int
		contains []string
		headers  map[string]string
		absent   []string
	}{
		{name: "pass", code: 200, contains: []string{"path=/some/path?a=b", "x-test: pass"}},
		{name: "echo-headers", hdr: []string{"X-Multi", "1", "X-Multi", "2"}, code: 200, contains: []string{
			"n=", " eos=1\n:method=GET\n:path=/some/path?a=b\n:authority=127.0.0.1:", "\n:scheme=http\n",
			"x-test=echo-headers", "x-multi=1\n", "x-multi=2\n", "x-request-id=req-123"}},
		{name: "modify", hdr: []string{"X-Replace", "old", "X-Remove", "gone"}, code: 200,
			contains: []string{"path=/rewritten?q=1", "x-added: yes", "x-replace: new", "x-fresh: fresh"},
			absent:   []string{"x-remove", "old"}},
		{name: "set-pairs", code: 200, contains: []string{"x-set: 1", "x-test: set-pairs"}},
		// A local reply passes the filter's own response callbacks, as in Envoy.
		{name: "local", code: 403, contains: []string{"denied"}, headers: map[string]string{"X-Local": "1", "X-Saw-Resph": "local"}},
		{name: "local-continue", code: 401, contains: []string{"nope"}, headers: map[string]string{"X-Saw-Resph": "local-continue"}},
		{name: "continue-in-callback", code: 200, contains: []string{"x-test: continue-in-callback"}},
		{name: "callout", code: 200, contains: []string{"x-callout-status: 200", "x-callout-code: 200", "x-callout-body: cb:callout.test:x=1:guest"}},
		{name: "callout-deny", code: 401, contains: []string{"denied by callout 200"}},
		{name: "callout-dead", code: 502, contains: []string{"callout failed"}},
		{name: "callout-bad", code: 200, contains: []string{"unknown=2\n", "nopath=2\n", "badptr=6\n"}},
		{name: "props", code: 200, contains: []string{
			"request.path=/some/path?a=b st=0", "request.method=GET st=0", "request.host=127.0.0.1:",
			"request.scheme=http st=0", "request.id=req-123 st=0", "source.address=127.0.0.1:",
			"plugin_name=test-plugin st=0", "plugin_root_id=root-1 st=0", "plugin_vm_id=vm-TestABI st=0",
			"request.protocol=HTTP/1.1", "request.url_path=/some/path st=0", "request.query=a=b st=0",
			"source.port=", "request.time.len=8", "unknown st=1", "dotted=/some/path?a=b st=0",
			"set=0 get=my-value st=0", "set-builtin=1", "route_name=test-route st=0", "xds.route_name=test-route st=0",
			"cluster_name=backend st=0", "upstream.address= st=1"}}, // no upstream chosen yet
		{name: "shared", hdr: []string{"X-Key", "abi"}, code: 200, contains: []string{
			"set0=0", "get=v1 st=0", "setcas=0", "setstale=8", "get2=v2 st=0", "missing=1"}},
		{name: "metrics", code: 200, contains: []string{"same-id=true", "inc=0", "dec-counter=2", "value=5", "gauge=7", "hist=0", "badtype=2", "unknown=1"}},
		{name: "bounds", code: 200, contains: []string{
			"log=6\n", "log-level=2\n", "value-out=6\n", "value-key=6\n", "pairs-out=6\n", "bad-map=2\n",
			"set-pairs-oob=6\n", "set-pairs-garbage=2\n", "prop-path=6\n", "prop-out=6\n", "buffer-out=6\n",
			"buffer-id=2\n", "time=6\n", "shared-key=6\n", "local-body=6\n", "add-crlf=2\n", "add-badname=2\n",
			"loglevel-out=6\n", "metric-out=6\n"}},
		{name: "unimpl", code: 200, contains: []string{"grpc=12", "ffi=12", "continue-downstream=12", "continue-bad=2",
			"effective-bad=2", "done-notpending=1", "resp-headers-now=1", "call-body-now=1"}},
		{name: "misc", hdr: []string{"X-Empty", "", "X-Vmid", "vm-TestABI"}, code: 200, contains: []string{
			"loglevel-st=0", "config-size=12", "config-slice=llo", "config-start-past=2", "vm-config=vm-config",
			"empty-value=[] st=0", "absent st=1", "enqueue=0", "resolve=0 same=true", "resolve-missing=1", "dequeue-bad=1"}},
		{name: "resp-modify", code: 200, headers: map[string]string{"X-Resp": "1", "X-Upstream-Status": "200", "X-Backend": "1",
			"X-Req-Path": "/some/path?a=b", "X-Req-Write": "2",
			"X-Upstream-Address": strings.TrimPrefix(e.backend.URL, "http://") + " st=0", "X-Upstream-Port": e.backend.URL[strings.LastIndexByte(e.backend.URL, ':')+1:]},
			absent: []string{"X-Drop"}},
		{name: "resp-local", code: 502, contains: []string{"replaced"}},
		{name: "unknown-scenario", code: 400, contains: []string{"unknown test"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do(tt.name, tt.hdr...)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.code != tt.code {
				t.Fatalf("status %d, want %d; body:\n%s", res.code, tt.code, res.body)
			}
			for _, c := range tt.contains {
				if !strings.Contains(res.body, c) {
					t.Errorf("body lacks %q; body:\n%s", c, res.body)
				}
			}
			for k, v := range tt.headers {
				if got := res.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(res.body, a) || res.header.Get(a) != "" {
					t.Errorf("%q should be gone; headers %v body:\n%s", a, res.header, res.body)
				}
			}
		})
	}
	// Every context went through create, request headers, ..., log, done,
	// delete in order; finishing is asynchronous, so wait for it.
	waitMetric(t, e.p, "deleted", func(n int64) bool { return n == e.metric("created") })
	if n := e.metric("lifecycle_errors"); n != 0 {
		t.Errorf("lifecycle_errors = %d", n)
	}
	if e.metric("logged") != e.metric("deleted") {
		t.Errorf("logged %d != deleted %d", e.metric("logged"), e.metric("deleted"))
	}
}

func (e *env) metric(name string) int64 { return metricValue(e.p, name) }

func metricValue(p *Plugin, name string) int64 {
	p.metrics.mu.RLock()
	defer p.metrics.mu.RUnlock()
	id, ok := p.metrics.byName[name]
	if !ok {
		return -1
	}
	return p.metrics.list[id-metricIDBase].val.Load()
}

func waitMetric(t *testing.T, p *Plugin, name string, ok func(int64) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := metricValue(p, name)
		if ok(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metric %s = %d: condition not met", name, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCloseStreamAborts(t *testing.T) {
	e := newEnv(t, nil)
	res := e.do("close")
	if res.err == nil {
		t.Fatalf("want a reset connection, got %d %q", res.code, res.body)
	}
}

func TestPauseTimeoutFailsClosed(t *testing.T) {
	e := newEnv(t, func(c *PluginConfig) { c.Limits.PauseTimeout = 100 * time.Millisecond })
	start := time.Now()
	res := e.do("pause-forever")
	if res.code != 503 {
		t.Fatalf("status %d, want 503", res.code)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %v", d)
	}
	// The abandoned context is still finished (log, done, delete).
	waitMetric(t, e.p, "deleted", func(n int64) bool { return n == 1 })
	if res := e.do("pass"); res.code != 200 {
		t.Fatalf("after timeout: %d", res.code)
	}
}

func TestTrapFailsClosedAndReplacesVM(t *testing.T) {
	e := newEnv(t, func(c *PluginConfig) { c.VMs = 1 })
	old := e.p.vms[0].Load()
	if res := e.do("trap"); res.code != 503 {
		t.Fatalf("trap: status %d, want 503", res.code)
	}
	waitFor(t, func() bool { v := e.p.vms[0].Load(); return v != old && !v.dead.Load() })
	if res := e.do("pass"); res.code != 200 {
		t.Fatalf("after replacement: %d %s", res.code, res.body)
	}
	if res := e.do("resp-trap"); res.code != 503 {
		t.Fatalf("response trap: %d, want 503", res.code)
	}
	waitFor(t, func() bool { i := e.p.Info(); return i.Restarts == 2 && i.LiveVMs == 1 })
}

func TestTrapFailsOpen(t *testing.T) {
	e := newEnv(t, func(c *PluginConfig) { c.VMs = 1; c.FailOpen = true })
	res := e.do("trap")
	if res.code != 200 || !strings.Contains(res.body, "x-test: trap") {
		t.Fatalf("fail open: %d %q", res.code, res.body)
	}
	waitFor(t, func() bool { v := e.p.vms[0].Load(); return v != nil && !v.dead.Load() })
	res = e.do("resp-trap")
	if res.code != 200 || res.header.Get("X-Backend") != "1" {
		t.Fatalf("fail open on response: %d", res.code)
	}
}

func TestCallbackTimeLimit(t *testing.T) {
	e := newEnv(t, func(c *PluginConfig) { c.VMs = 1; c.Limits.MaxCallbackTime = 200 * time.Millisecond })
	if !e.p.metered {
		t.Fatal("the test guest was not metered (host/meter); the limit fell back to close-on-context-done")
	}
	start := time.Now()
	if res := e.do("slow"); res.code != 503 {
		t.Fatalf("slow: %d, want 503", res.code)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("took %v", d)
	}
	waitFor(t, func() bool { v := e.p.vms[0].Load(); return v != nil && !v.dead.Load() })
	if res := e.do("pass"); res.code != 200 {
		t.Fatalf("after replacement: %d", res.code)
	}
}

func TestTicksOnEveryVM(t *testing.T) {
	e := newEnv(t, func(c *PluginConfig) { c.VMs = 3; c.Configuration = []byte("tick=10") })
	waitMetric(t, e.p, "ticks", func(n int64) bool { return n >= 30 })
	if n := e.metric("lifecycle_errors"); n != 0 {
		t.Fatalf("lifecycle_errors = %d", n)
	}
	// A paused response resumed from a tick (proxy_continue_stream(1)).
	res := e.do("resp-pause")
	if res.code != 200 || res.header.Get("X-Resumed") != "1" {
		t.Fatalf("resp-pause: %d %v", res.code, res.header)
	}
	// Body chunks racing the tick that releases the held response headers:
	// every chunk still arrives, in order.
	var want strings.Builder
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&want, "chunk%02d;", i)
	}
	for i := 0; i < 5; i++ {
		req, _ := http.NewRequest("GET", e.front.URL+"/slow", nil)
		req.Header.Set("X-Test", "resp-pause")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != want.String() || resp.Header.Get("X-Resumed") != "1" {
			t.Fatalf("slow resp-pause: %d %q %v", resp.StatusCode, b, resp.Header)
		}
	}
	// on_done returning false: proxy_done on a later tick deletes the context.
	before := e.metric("deleted")
	if res := e.do("done-later"); res.code != 200 {
		t.Fatalf("done-later: %d", res.code)
	}
	waitMetric(t, e.p, "deleted", func(n int64) bool { return n == before+1 })
}

func TestSharedQueueReady(t *testing.T) {
	e := newEnv(t, func(c *PluginConfig) { c.VMs = 2 })
	for i := 0; i < 5; i++ {
		if res := e.do("misc", "X-Vmid", e.p.cfg.VMID); res.code != 200 {
			t.Fatal(res.code)
		}
	}
	waitMetric(t, e.p, "queue_items", func(n int64) bool { return n == 5 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCallbackTimeLimitUnmetered: the fallback for modules the meter cannot rewrite, wazero's
// close-on-context-done, stops a runaway callback too.
func TestCallbackTimeLimitUnmetered(t *testing.T) {
	meterModules = false
	defer func() { meterModules = true }()
	e := newEnv(t, func(c *PluginConfig) { c.VMs = 1; c.Limits.MaxCallbackTime = 200 * time.Millisecond })
	if e.p.metered {
		t.Fatal("metered although meterModules is off")
	}
	if res := e.do("slow"); res.code != 503 {
		t.Fatalf("slow: %d, want 503", res.code)
	}
	waitFor(t, func() bool { v := e.p.vms[0].Load(); return v != nil && !v.dead.Load() })
	if res := e.do("pass"); res.code != 200 {
		t.Fatalf("after replacement: %d", res.code)
	}
}
