package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/host"
	"github.com/gatewarden/gatewarden/oci"
)

// The host's conformance guest (host/testdata/guest) is a small proxy-wasm filter
// whose behaviour is chosen per request by the x-test header. It is built once per
// test binary; the plugin tests skip when its source is absent.
var (
	guestOnce sync.Once
	guestPath string
	guestErr  error
)

const guestSrc = "../host/testdata/guest"

func testGuest(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(guestSrc); err != nil {
		t.Skipf("no test guest at %s", guestSrc)
	}
	if testing.Short() {
		t.Skip("builds and loads a wasm guest; skipped with -short")
	}
	guestOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gateway-guest-")
		if err != nil {
			guestErr = err
			return
		}
		guestPath = filepath.Join(dir, "guest.wasm")
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		cmd := exec.Command(goBin, "build", "-buildmode=c-shared", "-o", guestPath, guestSrc)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if out, err := cmd.CombinedOutput(); err != nil {
			guestErr = fmt.Errorf("build test guest: %v\n%s", err, out)
		}
	})
	if guestErr != nil {
		t.Fatal(guestErr)
	}
	return guestPath
}

// testCacheDir is a wazero compilation cache shared by every gateway in the tests,
// so the guest is compiled to machine code once, not once per Runtime.
var testCacheDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gateway-wazero-cache-")
	if err != nil {
		panic(err)
	}
	testCacheDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	if guestPath != "" {
		os.RemoveAll(filepath.Dir(guestPath))
	}
	os.Exit(code)
}

const pluginConfig = `
listeners:
  - name: main
    address: "127.0.0.1:0"
    plugins: [outer]
    routes:
      - {prefix: /, upstream: be}
      - {prefix: /both, upstream: be, plugins: [inner]}
      - {prefix: /open, upstream: be, plugins: [lenient]}
upstreams:
  - {name: be, urls: ["{{be}}"]}
  - {name: backend, urls: ["{{be}}"]} # the guest calls out to "backend"
plugins:
  - {name: outer, path: GUEST, vms: 2, upstreams: [backend], configuration: {role: outer}}
  - {name: inner, path: GUEST, vms: 1, configuration: "inner"}
  - {name: lenient, path: GUEST, vms: 1, fail_open: true}
`

func TestPluginChain(t *testing.T) {
	guest := testGuest(t)
	be := newBackend(t, "be", nil)
	g, base := startGateway(t, strings.ReplaceAll(pluginConfig, "GUEST", guest), be)

	cases := []struct {
		name        string
		path, test  string
		wantStatus  int
		wantBackend bool
		check       func(t *testing.T, s seen, body string)
	}{
		{name: "pass", path: "/", test: "pass", wantStatus: 200, wantBackend: true},
		{name: "listener plugin modifies", path: "/", test: "modify", wantStatus: 200, wantBackend: true,
			check: func(t *testing.T, s seen, _ string) {
				if got := s.Header.Values("X-Added"); len(got) != 1 || s.Path != "/rewritten" {
					t.Errorf("X-Added %v path %q; want one value and /rewritten", got, s.Path)
				}
			}},
		{name: "listener then route plugin", path: "/both", test: "modify", wantStatus: 200, wantBackend: true,
			check: func(t *testing.T, s seen, _ string) {
				if got := s.Header.Values("X-Added"); len(got) != 2 {
					t.Errorf("X-Added %v; want two values (two plugins)", got)
				}
			}},
		{name: "local response", path: "/", test: "local", wantStatus: 403, wantBackend: false},
		{name: "trap fails closed", path: "/", test: "trap", wantStatus: 503, wantBackend: false},
		{name: "callout to a plugin upstream", path: "/", test: "callout", wantStatus: 200, wantBackend: true,
			check: func(t *testing.T, s seen, _ string) {
				if s.Header.Get("X-Callout-Status") != "200" || s.Header.Get("X-Callout-Code") != "200" {
					t.Errorf("callout headers: status %q code %q", s.Header.Get("X-Callout-Status"), s.Header.Get("X-Callout-Code"))
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := be.hits.Load()
			req := mustReq(t, "GET", base+tc.path)
			req.Header.Set("x-test", tc.test)
			resp, body := get(t, req)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.wantStatus, body)
			}
			// A callout to "be" counts as a backend hit too, so compare reached/not reached.
			if reached := be.hits.Load() > before; reached != tc.wantBackend {
				t.Errorf("backend reached = %v, want %v", reached, tc.wantBackend)
			}
			if resp.Header.Get(RequestIDHeader) == "" {
				t.Error("no request id on a plugin response")
			}
			if tc.check != nil {
				var s seen
				if err := json.Unmarshal(body, &s); err != nil {
					t.Fatalf("%v: %s", err, body)
				}
				tc.check(t, s, string(body))
			}
		})
	}

	// The metrics of the guest show up with a plugin label; config_dump lists the plugins.
	m := scrape(t, g)
	if !strings.Contains(m, `created{plugin="outer"}`) {
		t.Errorf("plugin metrics missing from /metrics")
	}
	gen := g.cur.Load()
	d := gen.dump()
	wasm, _ := os.ReadFile(guest)
	sum := sha256.Sum256(wasm)
	if len(d.Plugins) != 3 || d.Plugins[0].SHA256 != hex.EncodeToString(sum[:]) || d.Plugins[1].UsedBy[0] != "main /both" {
		t.Errorf("config dump plugins: %+v", d.Plugins)
	}
}

func TestPluginFailOpen(t *testing.T) {
	guest := testGuest(t)
	be := newBackend(t, "be", nil)
	_, base := startGateway(t, strings.ReplaceAll(`
listeners:
  - {name: main, address: "127.0.0.1:0", routes: [{prefix: /, upstream: be, plugins: [lenient]}]}
upstreams:
  - {name: be, urls: ["{{be}}"]}
plugins:
  - {name: lenient, path: GUEST, vms: 1, fail_open: true}
`, "GUEST", guest), be)
	req := mustReq(t, "GET", base+"/")
	req.Header.Set("x-test", "trap")
	if resp, body := get(t, req); resp.StatusCode != 200 {
		t.Errorf("fail_open plugin trap: status %d %s", resp.StatusCode, body)
	}
	// The VM is replaced in the background (requests pass meanwhile, fail_open);
	// then requests are filtered again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		req = mustReq(t, "GET", base+"/")
		req.Header.Set("x-test", "local")
		resp, _ := get(t, req)
		if resp.StatusCode == 403 {
			break
		}
		if resp.StatusCode != 200 || time.Now().After(deadline) {
			t.Fatalf("after a trap: status %d, want 200 then 403 from the replaced VM", resp.StatusCode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPluginLoadErrors(t *testing.T) {
	guest := testGuest(t)
	wasm, err := os.ReadFile(guest)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wasm)
	base := `
listeners:
  - {name: main, address: "127.0.0.1:0", routes: [{prefix: /, upstream: be, plugins: [p]}]}
upstreams:
  - {name: be, urls: ["http://127.0.0.1:1"]}
plugins:
`
	pulled := ""
	cases := []struct {
		name    string
		plugin  string
		pull    PullFunc
		wantErr error
	}{
		{name: "configure returns false", plugin: `{name: p, path: GUEST, configuration: "fail-configure"}`, wantErr: host.ErrStartFailed},
		{name: "sha256 mismatch", plugin: `{name: p, path: GUEST, sha256: "` + strings.Repeat("0", 64) + `"}`, wantErr: ErrPluginSource},
		{name: "sha256 match", plugin: `{name: p, path: GUEST, sha256: "` + hex.EncodeToString(sum[:]) + `"}`},
		{name: "not wasm", plugin: `{name: p, path: ` + filepath.Join(goldenDir, "README.md") + `}`, wantErr: host.ErrModule},
		{name: "missing file", plugin: `{name: p, path: /nonexistent.wasm}`, wantErr: os.ErrNotExist},
		{name: "oci pull hook", plugin: `{name: p, path: "oci://127.0.0.1:5000/guest:v1", pull_policy: Always}`,
			pull: func(ctx context.Context, ref string, opts oci.PullOptions) ([]byte, error) {
				pulled = ref + " " + opts.Policy
				return wasm, nil
			}},
		{name: "oci pull failure", plugin: `{name: p, path: "oci://127.0.0.1:5000/guest:v1"}`,
			pull: func(context.Context, string, oci.PullOptions) ([]byte, error) {
				return nil, errors.New("registry down")
			}, wantErr: ErrPluginSource},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := mustParse(t, base+"  - "+strings.ReplaceAll(tc.plugin, "GUEST", guest)+"\n")
			g, err := New(context.Background(), cfg, Options{Logger: quietLogger(), PullOCI: tc.pull})
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				_ = g.Shutdown(context.Background())
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), `plugins[0] "p"`) {
				t.Errorf("error %q does not name the plugin", err)
			}
		})
	}
	if pulled != "127.0.0.1:5000/guest:v1 Always" {
		t.Errorf("pull hook got %q", pulled)
	}
}

// TestPluginReloadUnderLoad reloads plugin configurations while clients send
// requests through the plugin chain: nothing fails, and old plugins are closed.
func TestPluginReloadUnderLoad(t *testing.T) {
	guest := testGuest(t)
	be := newBackend(t, "be", nil)
	conf := strings.ReplaceAll(`
listeners:
  - {name: main, address: "127.0.0.1:0", routes: [{prefix: /, upstream: be, plugins: [p]}]}
upstreams:
  - {name: be, urls: ["{{be}}"]}
plugins:
  - {name: p, path: GUEST, vms: 2, configuration: "gen %d"}
`, "GUEST", guest)
	g, base := startGateway(t, fmt.Sprintf(conf, 0), be)
	stop := make(chan struct{})
	var failures, total atomic.Int64
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := http.NewRequest("GET", base+"/", nil)
				req.Header.Set("x-test", "modify")
				resp, err := http.DefaultClient.Do(req)
				total.Add(1)
				if err != nil {
					failures.Add(1)
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || !strings.Contains(string(b), "X-Added") {
					failures.Add(1)
				}
			}
		}()
	}
	var olds []*generation
	for i := 1; i <= 4; i++ {
		time.Sleep(30 * time.Millisecond)
		olds = append(olds, g.cur.Load())
		if err := g.Reload(context.Background(), mustParse(t, fmt.Sprintf(conf, i), be)); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(30 * time.Millisecond)
	close(stop)
	wg.Wait()
	if failures.Load() != 0 {
		t.Fatalf("%d of %d requests failed during plugin reloads", failures.Load(), total.Load())
	}
	for _, old := range olds {
		select {
		case <-old.drained:
		case <-time.After(5 * time.Second):
			t.Fatalf("generation %d never drained", old.id)
		}
	}
	t.Logf("%d requests through a reloading plugin, 0 failures", total.Load())
}

// TestPluginRouteProperties: plugins read the route (its prefix), the upstream's name and the
// endpoint the request went to, as Envoy's route_name, cluster_name and upstream.* attributes.
func TestPluginRouteProperties(t *testing.T) {
	guest := testGuest(t)
	be := newBackend(t, "be", nil)
	_, base := startGateway(t, strings.ReplaceAll(pluginConfig, "GUEST", guest), be)

	req := mustReq(t, "GET", base+"/both/x")
	req.Header.Set("x-test", "props")
	resp, body := get(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("props: status %d: %s", resp.StatusCode, body)
	}
	for _, want := range []string{"route_name=/both st=0", "xds.route_name=/both st=0", "cluster_name=be st=0",
		"upstream.address= st=1"} { // no endpoint chosen before the request phase ends
		if !strings.Contains(string(body), want) {
			t.Errorf("props body lacks %q:\n%s", want, body)
		}
	}

	req = mustReq(t, "GET", base+"/")
	req.Header.Set("x-test", "resp-modify")
	resp, body = get(t, req)
	u, _ := url.Parse(be.srv.URL)
	if got, want := resp.Header.Get("X-Upstream-Address"), u.Host+" st=0"; got != want {
		t.Errorf("upstream.address in the response phase = %q, want %q (status %d %s)", got, want, resp.StatusCode, body)
	}
	if got := resp.Header.Get("X-Upstream-Port"); got != u.Port() {
		t.Errorf("upstream.port = %q, want %q", got, u.Port())
	}
}

func TestHostPort(t *testing.T) {
	for in, want := range map[string]string{
		"http://be:8080/x": "be:8080", "http://be": "be:80", "https://be": "be:443", "http://[::1]": "[::1]:80",
	} {
		u, _ := url.Parse(in)
		if got := hostPort(u); got != want {
			t.Errorf("hostPort(%s) = %q, want %q", in, got, want)
		}
	}
}
