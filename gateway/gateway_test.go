package gateway

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// backend is an httptest server that answers with its name and the request it saw.
type backend struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64
}

type seen struct {
	Backend string      `json:"backend"`
	Method  string      `json:"method"`
	Path    string      `json:"path"`
	RawPath string      `json:"raw_path"`
	Query   string      `json:"query"`
	Host    string      `json:"host"`
	Header  http.Header `json:"header"`
}

func newBackend(t *testing.T, name string, h http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Backend: name, Method: r.Method, Path: r.URL.Path, RawPath: r.URL.RawPath,
			Query: r.URL.RawQuery, Host: r.Host, Header: r.Header})
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// startGateway parses yaml (with {{name}} replaced by backend URLs), starts the
// gateway and returns it with the base URL of its first listener.
func startGateway(t *testing.T, yaml string, backends ...*backend) (*Gateway, string) {
	t.Helper()
	cfg := mustParse(t, yaml, backends...)
	g, err := New(context.Background(), cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
	})
	return g, "http://" + g.Addr(cfg.Listeners[0].Name)
}

func mustParse(t *testing.T, yaml string, backends ...*backend) *Config {
	t.Helper()
	for _, b := range backends {
		yaml = strings.ReplaceAll(yaml, "{{"+b.name+"}}", b.srv.URL)
	}
	cfg, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.CacheDir == "" {
		cfg.CacheDir = testCacheDir
	}
	return cfg
}

func get(t *testing.T, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

const routingConfig = `
listeners:
  - name: main
    address: 127.0.0.1:0
    routes:
      - {prefix: /, upstream: root}
      - {prefix: /api, upstream: api}
      - {prefix: /api/v2/, upstream: v2}
      - {prefix: /public, upstream: public}
upstreams:
  - {name: root, urls: ["{{root}}"]}
  - {name: api, urls: ["{{api}}/base"]}
  - {name: v2, urls: ["{{v2}}"]}
  - {name: public, urls: ["{{public}}"], preserve_host: true}
`

func TestRouting(t *testing.T) {
	root, api, v2, public := newBackend(t, "root", nil), newBackend(t, "api", nil), newBackend(t, "v2", nil), newBackend(t, "public", nil)
	_, base := startGateway(t, routingConfig, root, api, v2, public)

	cases := []struct {
		name        string
		target      string // request-target as sent on the wire
		wantStatus  int
		wantBackend string
		wantPath    string
		wantQuery   string
	}{
		{name: "root", target: "/", wantStatus: 200, wantBackend: "root", wantPath: "/"},
		{name: "api exact", target: "/api", wantStatus: 200, wantBackend: "api", wantPath: "/base/api"},
		{name: "api sub", target: "/api/users?id=1&x=%20", wantStatus: 200, wantBackend: "api", wantPath: "/base/api/users", wantQuery: "id=1&x=%20"},
		{name: "segment boundary", target: "/apix", wantStatus: 200, wantBackend: "root", wantPath: "/apix"},
		{name: "longest prefix", target: "/api/v2/things", wantStatus: 200, wantBackend: "v2", wantPath: "/api/v2/things"},
		{name: "v2 prefix needs the slash", target: "/api/v2", wantStatus: 200, wantBackend: "api", wantPath: "/base/api/v2"},
		{name: "dot segments cleaned before routing", target: "/public/../api/x", wantStatus: 200, wantBackend: "api", wantPath: "/base/api/x"},
		{name: "double slashes merged", target: "//public//a", wantStatus: 200, wantBackend: "public", wantPath: "/public/a"},
		{name: "encoded dot segments", target: "/public/%2e%2e/api", wantStatus: 200, wantBackend: "api", wantPath: "/base/api"},
		{name: "asterisk refused", target: "*", wantStatus: 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := rawRequest(t, strings.TrimPrefix(base, "http://"), "GET "+tc.target+" HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.wantStatus, body)
			}
			if resp.Header.Get(RequestIDHeader) == "" {
				t.Error("response has no X-Request-Id")
			}
			if tc.wantStatus != 200 {
				return
			}
			var s seen
			if err := json.Unmarshal(body, &s); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if s.Backend != tc.wantBackend || s.Path != tc.wantPath || s.Query != tc.wantQuery {
				t.Errorf("backend %q path %q query %q; want %q %q %q", s.Backend, s.Path, s.Query, tc.wantBackend, tc.wantPath, tc.wantQuery)
			}
		})
	}
}

// rawRequest writes a request verbatim, so tests control the request-target exactly.
func rawRequest(t *testing.T, addr, raw string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

func TestNoRoute(t *testing.T) {
	api := newBackend(t, "api", nil)
	_, base := startGateway(t, `
listeners:
  - {name: main, address: "127.0.0.1:0", routes: [{prefix: /api, upstream: api}]}
upstreams:
  - {name: api, urls: ["{{api}}"]}
`, api)
	resp, body := get(t, mustReq(t, "GET", base+"/other"))
	var e struct {
		Error     string `json:"error"`
		RequestID string `json:"request_id"`
	}
	_ = json.Unmarshal(body, &e)
	if resp.StatusCode != 404 || !strings.Contains(string(body), `"no_route"`) || e.RequestID != resp.Header.Get(RequestIDHeader) {
		t.Errorf("status %d body %s", resp.StatusCode, body)
	}
	if api.hits.Load() != 0 {
		t.Error("backend reached")
	}
}

func mustReq(t *testing.T, method, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestProxyHeaders(t *testing.T) {
	root, api, v2, public := newBackend(t, "root", nil), newBackend(t, "api", nil), newBackend(t, "v2", nil), newBackend(t, "public", nil)
	_, base := startGateway(t, routingConfig, root, api, v2, public)

	cases := []struct {
		name   string
		path   string
		header map[string]string
		check  func(t *testing.T, s seen, resp *http.Response)
	}{
		{name: "hop-by-hop removed", path: "/", header: map[string]string{"Connection": "X-Secret, keep-alive", "X-Secret": "1", "Keep-Alive": "timeout=5", "Proxy-Authorization": "Basic x", "Te": "gzip"},
			check: func(t *testing.T, s seen, _ *http.Response) {
				for _, h := range []string{"X-Secret", "Keep-Alive", "Proxy-Authorization", "Te"} {
					if s.Header.Get(h) != "" {
						t.Errorf("hop-by-hop %s reached the backend", h)
					}
				}
			}},
		{name: "end-to-end kept", path: "/", header: map[string]string{"Authorization": "Bearer abc", "X-Custom": "v"},
			check: func(t *testing.T, s seen, _ *http.Response) {
				if s.Header.Get("Authorization") != "Bearer abc" || s.Header.Get("X-Custom") != "v" {
					t.Errorf("headers %v", s.Header)
				}
			}},
		{name: "x-forwarded-for replaced, not trusted", path: "/", header: map[string]string{"X-Forwarded-For": "6.6.6.6"},
			check: func(t *testing.T, s seen, _ *http.Response) {
				if got := s.Header.Get("X-Forwarded-For"); got != "127.0.0.1" {
					t.Errorf("X-Forwarded-For = %q, want 127.0.0.1", got)
				}
				if s.Header.Get("X-Forwarded-Host") != "example.test" {
					t.Errorf("X-Forwarded-Host = %q", s.Header.Get("X-Forwarded-Host"))
				}
			}},
		{name: "request id generated", path: "/",
			check: func(t *testing.T, s seen, resp *http.Response) {
				id := s.Header.Get(RequestIDHeader)
				if len(id) != 36 || id != resp.Header.Get(RequestIDHeader) {
					t.Errorf("backend id %q, response id %q", id, resp.Header.Get(RequestIDHeader))
				}
			}},
		{name: "client request id kept", path: "/", header: map[string]string{"X-Request-Id": "abc-123"},
			check: func(t *testing.T, s seen, resp *http.Response) {
				if s.Header.Get(RequestIDHeader) != "abc-123" || resp.Header.Get(RequestIDHeader) != "abc-123" {
					t.Errorf("id not kept: %q", s.Header.Get(RequestIDHeader))
				}
			}},
		{name: "malformed request id replaced", path: "/", header: map[string]string{"X-Request-Id": "a b<script>"},
			check: func(t *testing.T, s seen, _ *http.Response) {
				if id := s.Header.Get(RequestIDHeader); len(id) != 36 {
					t.Errorf("id %q not replaced", id)
				}
			}},
		{name: "upstream host by default", path: "/",
			check: func(t *testing.T, s seen, _ *http.Response) {
				if s.Host != strings.TrimPrefix(root.srv.URL, "http://") {
					t.Errorf("Host %q", s.Host)
				}
			}},
		{name: "preserve_host", path: "/public",
			check: func(t *testing.T, s seen, _ *http.Response) {
				if s.Host != "example.test" {
					t.Errorf("Host %q, want example.test", s.Host)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := mustReq(t, "GET", base+tc.path)
			req.Host = "example.test"
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, body := get(t, req)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			var s seen
			if err := json.Unmarshal(body, &s); err != nil {
				t.Fatal(err)
			}
			tc.check(t, s, resp)
		})
	}
}

func TestRoundRobin(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	_, base := startGateway(t, `
listeners:
  - {name: main, address: "127.0.0.1:0", routes: [{prefix: /, upstream: pool}]}
upstreams:
  - {name: pool, urls: ["{{a}}", "{{b}}"]}
`, a, b)
	for range 10 {
		resp, _ := get(t, mustReq(t, "GET", base+"/"))
		if resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
	}
	if a.hits.Load() != 5 || b.hits.Load() != 5 {
		t.Errorf("hits a=%d b=%d, want 5 and 5", a.hits.Load(), b.hits.Load())
	}
}

func TestUpstreamErrors(t *testing.T) {
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	dead := newBackend(t, "dead", nil)
	deadURL := dead.srv.URL
	dead.srv.Close()
	g, base := startGateway(t, strings.ReplaceAll(`
listeners:
  - name: main
    address: "127.0.0.1:0"
    routes: [{prefix: /slow, upstream: slow}, {prefix: /dead, upstream: dead}]
upstreams:
  - {name: slow, urls: ["{{slow}}"], timeouts: {response_header: 100ms}}
  - {name: dead, urls: ["DEAD"], timeouts: {connect: 200ms}}
`, "DEAD", deadURL), slow)
	cases := []struct {
		path       string
		wantStatus int
		wantError  string
	}{
		{"/slow", 504, "upstream_timeout"},
		{"/dead", 502, "upstream_connect"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, mustReq(t, "GET", base+tc.path))
			if resp.StatusCode != tc.wantStatus || !strings.Contains(string(body), tc.wantError) {
				t.Errorf("status %d body %s; want %d %s", resp.StatusCode, body, tc.wantStatus, tc.wantError)
			}
			if !strings.Contains(string(body), resp.Header.Get(RequestIDHeader)) {
				t.Errorf("body %s lacks the request id", body)
			}
		})
	}
	metrics := scrape(t, g)
	for _, want := range []string{
		`gatewarden_gateway_upstream_errors_total{kind="timeout",upstream="slow"} 1`,
		`gatewarden_gateway_upstream_errors_total{kind="connect",upstream="dead"} 1`,
		`gatewarden_gateway_requests_total{code="504",listener="main",route="/slow"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func scrape(t *testing.T, g *Gateway) string {
	t.Helper()
	rec := httptest.NewRecorder()
	g.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

func TestAdmin(t *testing.T) {
	be := newBackend(t, "be", nil)
	g, base := startGateway(t, `
admin: {address: "127.0.0.1:0"}
listeners:
  - {name: main, address: "127.0.0.1:0", routes: [{prefix: /, upstream: be}]}
upstreams:
  - {name: be, urls: ["{{be}}"]}
`, be)
	get(t, mustReq(t, "GET", base+"/x"))
	admin := "http://" + g.AdminAddr()
	cases := []struct {
		path, contains string
	}{
		{"/ready", "ready"},
		{"/live", "live"},
		{"/metrics", `gatewarden_gateway_requests_total{code="200",listener="main",route="/"} 1`},
		{"/metrics", "gatewarden_gateway_config_generation 1"},
		{"/config_dump", `"generation": 1`},
		{"/config_dump", `"plugins": []`},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, mustReq(t, "GET", admin+tc.path))
			if resp.StatusCode != 200 || !strings.Contains(string(body), tc.contains) {
				t.Errorf("status %d, body lacks %q:\n%s", resp.StatusCode, tc.contains, body)
			}
		})
	}
}

func TestEchoHandler(t *testing.T) {
	srv := httptest.NewServer(EchoHandler())
	defer srv.Close()
	req := mustReq(t, "POST", srv.URL+"/a/b?x=1&x=2")
	req.Body = io.NopCloser(strings.NewReader("hello"))
	req.Header.Set("Authorization", "Bearer t")
	resp, body := get(t, req)
	var e EchoResponse
	if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%v %d %s", err, resp.StatusCode, body)
	}
	if e.Method != "POST" || e.Path != "/a/b" || e.RawQuery != "x=1&x=2" || len(e.Query["x"]) != 2 ||
		e.Headers["Authorization"][0] != "Bearer t" || e.BodyBytes != 5 {
		t.Errorf("echo = %+v", e)
	}
}

// TestReloadUnderLoad swaps the upstream while clients hammer the gateway: no
// request may fail, and afterwards every request goes to the new upstream.
func TestReloadUnderLoad(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	conf := `
listeners:
  - {name: main, address: "127.0.0.1:0", routes: [{prefix: /, upstream: up}]}
upstreams:
  - {name: up, urls: ["{{%s}}"]}
`
	g, base := startGateway(t, fmt.Sprintf(conf, "a"), a)
	stop := make(chan struct{})
	var failures, total atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(base + "/")
				total.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failures.Add(1)
				}
			}
		}()
	}
	time.Sleep(50 * time.Millisecond)
	for i := range 6 {
		name := []string{"b", "a"}[i%2]
		if err := g.Reload(context.Background(), mustParse(t, fmt.Sprintf(conf, name), a, b)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failures.Load() != 0 || total.Load() < 8 {
		t.Fatalf("%d of %d requests failed during reloads", failures.Load(), total.Load())
	}
	before := a.hits.Load()
	resp, body := get(t, mustReq(t, "GET", base+"/"))
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"backend":"a"`) || a.hits.Load() != before+1 {
		t.Errorf("after the last reload: %s", body)
	}
	if !strings.Contains(scrape(t, g), "gatewarden_gateway_config_generation 7") {
		t.Error("generation gauge is not 7 after 6 reloads")
	}
	t.Logf("%d requests, 6 reloads, 0 failures", total.Load())
}

// TestReloadKeepsInFlight starts a slow request on generation 1, reloads, and
// checks the request finishes on its old upstream and generation 1 then closes.
func TestReloadKeepsInFlight(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, "slow done")
	})
	fast := newBackend(t, "fast", nil)
	conf := `
listeners:
  - {name: main, address: "127.0.0.1:0", routes: [{prefix: /, upstream: up}]}
upstreams:
  - {name: up, urls: ["{{%s}}"]}
`
	g, base := startGateway(t, fmt.Sprintf(conf, "slow"), slow)
	old := g.cur.Load()
	done := make(chan string)
	go func() {
		resp, err := http.Get(base + "/")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-started
	if err := g.Reload(context.Background(), mustParse(t, fmt.Sprintf(conf, "fast"), fast)); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, mustReq(t, "GET", base+"/")); !strings.Contains(string(body), `"backend":"fast"`) {
		t.Errorf("new request did not reach the new upstream: %s", body)
	}
	select {
	case <-old.drained:
		t.Fatal("old generation drained while a request was in flight")
	default:
	}
	if n := old.inFlight(); n != 1 {
		t.Errorf("old generation has %d requests in flight, want 1", n)
	}
	close(release)
	if got := <-done; got != "slow done" {
		t.Errorf("in-flight request got %q", got)
	}
	select {
	case <-old.drained:
	case <-time.After(5 * time.Second):
		t.Fatal("old generation never drained")
	}
}

func TestReloadRefusals(t *testing.T) {
	be := newBackend(t, "be", nil)
	conf := `
listeners:
  - {name: main, address: "127.0.0.1:0", routes: [{prefix: /, upstream: be}]}
upstreams:
  - {name: be, urls: ["{{be}}"]}
`
	g, base := startGateway(t, conf, be)
	cases := []struct {
		name    string
		yaml    string
		wantErr error
	}{
		{"listener renamed", strings.Replace(conf, "name: main", "name: other", 1), ErrNeedsRestart},
		{"listener moved", strings.Replace(conf, "127.0.0.1:0", "127.0.0.1:1", 1), ErrNeedsRestart},
		{"admin added", "admin: {address: \"127.0.0.1:0\"}\n" + conf, ErrNeedsRestart},
		{"plugin missing file", conf + "plugins: [{name: p, path: /nonexistent/p.wasm}]\n", ErrPluginSource},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := g.Reload(context.Background(), mustParse(t, tc.yaml, be))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if resp, _ := get(t, mustReq(t, "GET", base+"/")); resp.StatusCode != 200 {
				t.Errorf("gateway broken after a refused reload: %s", resp.Status)
			}
		})
	}
	bad := &Config{}
	if err := g.Reload(context.Background(), bad); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("invalid config: %v", err)
	}
	if !strings.Contains(scrape(t, g), `gatewarden_gateway_config_reloads_total{result="failure"} 5`) {
		t.Error("failures not counted")
	}
}

// TestShutdownDrains checks that Shutdown lets a request in flight finish, then
// refuses new connections and reports not ready.
func TestShutdownDrains(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := newBackend(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		<-release
		io.WriteString(w, "finished")
	})
	cfg := mustParse(t, `
admin: {address: "127.0.0.1:0"}
listeners:
  - {name: main, address: "127.0.0.1:0", routes: [{prefix: /, upstream: slow}]}
upstreams:
  - {name: slow, urls: ["{{slow}}"]}
`, slow)
	g, err := New(context.Background(), cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	base := "http://" + g.Addr("main")
	done := make(chan string)
	go func() {
		resp, err := http.Get(base + "/")
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		done <- string(b)
	}()
	<-started
	shut := make(chan error)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		shut <- g.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond)
	rec := httptest.NewRecorder()
	g.AdminHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/ready", nil))
	if rec.Code != 503 {
		t.Errorf("/ready during shutdown = %d, want 503", rec.Code)
	}
	if _, err := net.DialTimeout("tcp", g.Addr("main"), time.Second); err == nil {
		t.Error("new connection accepted during shutdown")
	}
	select {
	case err := <-shut:
		close(release)
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	default:
	}
	close(release)
	if got := <-done; got != "finished" {
		t.Errorf("in-flight request got %q", got)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := g.Reload(context.Background(), cfg); !errors.Is(err, ErrClosed) {
		t.Errorf("Reload after Shutdown: %v", err)
	}
}

func TestTLSListener(t *testing.T) {
	be := newBackend(t, "be", nil)
	dir := t.TempDir()
	pool := writeCert(t, dir)
	cfg := mustParse(t, `
listeners:
  - name: tls
    address: "127.0.0.1:0"
    tls: {cert: cert.pem, key: key.pem}
    routes: [{prefix: /, upstream: be}]
upstreams:
  - {name: be, urls: ["{{be}}"]}
`, be)
	cfg.BaseDir = dir
	g, err := New(context.Background(), cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := client.Get("https://" + g.Addr("tls") + "/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `"backend":"be"`) || resp.ProtoMajor != 2 {
		t.Errorf("status %d proto %s body %s", resp.StatusCode, resp.Proto, body)
	}
	// A reload rereads the certificate files.
	pool2 := writeCert(t, dir)
	if err := g.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	client2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool2}}}
	resp, err = client2.Get("https://" + g.Addr("tls") + "/x")
	if err != nil {
		t.Fatalf("new certificate not served after reload: %v", err)
	}
	resp.Body.Close()
}

// writeCert writes a fresh self-signed cert.pem/key.pem for 127.0.0.1 into dir.
func writeCert(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "gateway test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

// TestRunReloadsOnSIGHUP runs the gateway from a file, rewrites the file,
// sends SIGHUP to the test process and sees the new route.
func TestRunReloadsOnSIGHUP(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	path := filepath.Join(t.TempDir(), "gw.yaml")
	write := func(name string) {
		conf := fmt.Sprintf("listeners:\n  - {name: main, address: \"127.0.0.1:0\", routes: [{prefix: /, upstream: up}]}\nupstreams:\n  - {name: up, urls: [%q]}\n", name)
		if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(a.srv.URL)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan *Gateway, 1)
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, path, Options{Logger: quietLogger()}, func(g *Gateway) { ready <- g }) }()
	var g *Gateway
	select {
	case g = <-ready:
	case err := <-errc:
		t.Fatal(err)
	}
	base := "http://" + g.Addr("main")
	if _, body := get(t, mustReq(t, "GET", base+"/")); !strings.Contains(string(body), `"backend":"a"`) {
		t.Fatalf("before SIGHUP: %s", body)
	}
	write(b.srv.URL)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, body := get(t, mustReq(t, "GET", base+"/"))
		if strings.Contains(string(body), `"backend":"b"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP did not reload the config")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A broken file keeps the running config.
	os.WriteFile(path, []byte("listeners: [oops"), 0o600)
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	time.Sleep(100 * time.Millisecond)
	if _, body := get(t, mustReq(t, "GET", base+"/")); !strings.Contains(string(body), `"backend":"b"`) {
		t.Errorf("after a bad reload: %s", body)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestUpgrade checks that a protocol upgrade (as WebSocket uses) passes through:
// the recorder must let httputil hijack the client connection.
func TestUpgrade(t *testing.T) {
	up := newBackend(t, "up", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		line, _ := brw.ReadString('\n')
		brw.WriteString("echo: " + line)
		brw.Flush()
	})
	_, base := startGateway(t, `
listeners:
  - {name: main, address: "127.0.0.1:0", routes: [{prefix: /, upstream: up}]}
upstreams:
  - {name: up, urls: ["{{up}}"]}
`, up)
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	io.WriteString(c, "hello\n")
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: hello\n" {
		t.Fatalf("after upgrade: %q %v", line, err)
	}
}

// TestHandlerInProcess serves a listener's handler without Start, as embedders do.
func TestHandlerInProcess(t *testing.T) {
	be := newBackend(t, "be", nil)
	cfg := mustParse(t, `
listeners:
  - {name: main, address: "127.0.0.1:0", routes: [{prefix: /, upstream: be}]}
upstreams:
  - {name: be, urls: ["{{be}}"]}
`, be)
	g, err := New(context.Background(), cfg, Options{Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	if g.Handler("nope") != nil {
		t.Error("Handler of an unknown listener is not nil")
	}
	srv := httptest.NewServer(g.Handler("main"))
	defer srv.Close()
	if resp, body := get(t, mustReq(t, "GET", srv.URL+"/x")); resp.StatusCode != 200 || !strings.Contains(string(body), `"backend":"be"`) {
		t.Errorf("status %d body %s", resp.StatusCode, body)
	}
}

// BenchmarkProxy compares a bare httputil.ReverseProxy with the gateway (no
// plugins) in front of the same backend, over real loopback connections.
func BenchmarkProxy(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer be.Close()
	target, _ := url.Parse(be.URL)
	bare := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(target); pr.SetXForwarded() },
		Transport: &http.Transport{MaxIdleConnsPerHost: 256},
	})
	defer bare.Close()
	cfg, err := Parse([]byte("access_log: false\nlisteners:\n  - {name: main, address: \"127.0.0.1:0\", routes: [{prefix: /, upstream: be}]}\nupstreams:\n  - {name: be, urls: [\"" + be.URL + "\"]}\n"))
	if err != nil {
		b.Fatal(err)
	}
	g, err := New(context.Background(), cfg, Options{Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Start(); err != nil {
		b.Fatal(err)
	}
	defer g.Shutdown(context.Background())
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	for _, bc := range []struct{ name, url string }{{"bare-reverseproxy", bare.URL}, {"gateway", "http://" + g.Addr("main")}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := client.Get(bc.url + "/bench")
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

// TestStreaming checks that a chunked response reaches the client chunk by chunk.
func TestStreaming(t *testing.T) {
	next := make(chan struct{})
	sse := newBackend(t, "sse", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-time.After(5 * time.Second):
		}
		io.WriteString(w, "data: two\n\n")
	})
	_, base := startGateway(t, `
listeners:
  - {name: main, address: "127.0.0.1:0", routes: [{prefix: /, upstream: sse}]}
upstreams:
  - {name: sse, urls: ["{{sse}}"]}
`, sse)
	resp, err := http.Get(base + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	got := make(chan string, 1)
	go func() { l, _ := br.ReadString('\n'); got <- l }()
	select {
	case l := <-got:
		if l != "data: one\n" {
			t.Fatalf("first line %q", l)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("first event not flushed while the upstream was still streaming")
	}
	close(next)
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "data: two") {
		t.Errorf("rest %q", rest)
	}
}
