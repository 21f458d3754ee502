package oci

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// dummyWasm is a valid, empty WebAssembly module: the 8-byte header and one custom
// section (id 0) named "gatewarden-test" whose payload makes modules distinct.
func dummyWasm(payload string) []byte {
	const secName = "gatewarden-test"
	body := append([]byte{byte(len(secName))}, secName...)
	body = append(body, payload...)
	out := append([]byte{}, wasmMagic...)
	out = append(out, 0x00)
	out = appendULEB(out, uint64(len(body)))
	return append(out, body...)
}

func appendULEB(b []byte, v uint64) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// isolateDockerConfig points the default keychain at an empty directory, so the
// developer's own ~/.docker/config.json never leaks into a test.
func isolateDockerConfig(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("DOCKER_CONFIG", filepath.Join(dir, ".docker"))
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(dir, "none.json"))
	return filepath.Join(dir, ".docker")
}

func writeDockerConfig(t *testing.T, dir, host, user, pass string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	cfg := `{"auths":{"` + host + `":{"auth":"` + auth + `"}}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
}

// testRegistry is go-containerregistry's in-memory registry behind a recorder that
// counts requests and can tamper with responses or demand basic auth.
type testRegistry struct {
	*httptest.Server
	Host string // "127.0.0.1:PORT"

	mu       sync.Mutex
	requests []string
	tamper   func(r *http.Request, body []byte) []byte // nil: serve as is
	user     string
	pass     string
}

func newTestRegistry(t testing.TB) *testRegistry {
	t.Helper()
	isolateDockerConfig(t)
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	tr := &testRegistry{}
	tr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tr.mu.Lock()
		tr.requests = append(tr.requests, r.Method+" "+r.URL.Path)
		tamper, user, pass := tr.tamper, tr.user, tr.pass
		tr.mu.Unlock()
		if user != "" {
			u, p, ok := r.BasicAuth()
			if !ok || u != user || p != pass {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
				return
			}
		}
		if tamper == nil || r.Method != http.MethodGet {
			reg.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		reg.ServeHTTP(rec, r)
		body := tamper(r, rec.Body.Bytes())
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	}))
	t.Cleanup(tr.Close)
	tr.Host = strings.TrimPrefix(tr.URL, "http://")
	return tr
}

func (tr *testRegistry) setTamper(f func(r *http.Request, body []byte) []byte) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.tamper = f
}

func (tr *testRegistry) requireAuth(user, pass string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.user, tr.pass = user, pass
}

// take returns and clears the recorded requests.
func (tr *testRegistry) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	r := tr.requests
	tr.requests = nil
	return r
}

func countPrefix(reqs []string, substr string) int {
	n := 0
	for _, r := range reqs {
		if strings.Contains(r, substr) {
			n++
		}
	}
	return n
}

// redirectTransport dials the test server whatever host a URL names, so tests can use
// non-loopback registry names without leaving the machine.
func redirectTransport(addr string) *http.Transport {
	d := &net.Dialer{}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
	}
}

func mustPush(t *testing.T, wasm []byte, ref string, opts PushOptions) string {
	t.Helper()
	d, err := Push(context.Background(), wasm, ref, opts)
	if err != nil {
		t.Fatalf("Push(%s): %v", ref, err)
	}
	return d
}

func flipLastByte(b []byte) []byte {
	c := bytes.Clone(b)
	if len(c) > 0 {
		c[len(c)-1] ^= 0xff
	}
	return c
}
