package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestRunCommands(t *testing.T) {
	cases := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "no command", args: nil, wantCode: 2, wantStderr: "usage: gatewarden COMMAND"},
		{name: "help", args: []string{"help"}, wantCode: 0, wantStdout: "serve --config FILE"},
		{name: "unknown", args: []string{"frobnicate"}, wantCode: 2, wantStderr: `unknown command "frobnicate"`},
		{name: "version", args: []string{"version"}, wantCode: 0, wantStdout: "gatewarden dev"},
		{name: "serve without config", args: []string{"serve"}, wantCode: 2, wantStderr: "serve needs --config FILE"},
		{name: "serve stray argument", args: []string{"serve", "gw.yaml"}, wantCode: 2, wantStderr: "takes no arguments"},
		{name: "serve bad flag", args: []string{"serve", "--bogus"}, wantCode: 2, wantStderr: "flag provided but not defined"},
		{name: "serve bad log level", args: []string{"serve", "--config", "x.yaml", "--log-level", "loud"}, wantCode: 2, wantStderr: `--log-level "loud"`},
		{name: "serve check valid", args: []string{"serve", "--check", "--config", "../../testdata/gateway/valid/full.yaml"}, wantCode: 0, wantStdout: "full.yaml: ok"},
		{name: "serve check invalid", args: []string{"serve", "--check", "--config", "../../testdata/gateway/invalid/references.yaml"}, wantCode: 1,
			wantStderr: `listeners[0].routes[0].upstream: "backnd" is not a defined upstream`},
		{name: "serve missing file", args: []string{"serve", "--config", "/nonexistent/gw.yaml"}, wantCode: 1, wantStderr: "no such file"},
		{name: "demo without wasm", args: []string{"demo", "--wasm", "/nonexistent.wasm"}, wantCode: 1, wantStderr: "make wasm"},
		{name: "oci without subcommand", args: []string{"oci"}, wantCode: 2, wantStderr: "push or pull"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tc.args, &stdout, &stderr)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), tc.wantStdout) {
				t.Errorf("stdout lacks %q:\n%s", tc.wantStdout, stdout.String())
			}
			if !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("stderr lacks %q:\n%s", tc.wantStderr, stderr.String())
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and one reader goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var tokenLineRE = regexp.MustCompile(`(?m)^TOKEN=\$\(curl -s -H 'Accept: text/plain' (.*) (http://\S+/token)\); curl -s -H "Authorization: Bearer \$TOKEN" (http://\S+)\n`)

// TestDemo runs `gatewarden demo` with the real filter on free ports and follows
// the curl line it prints, in Go. It needs build/gatewarden.wasm (make wasm).
func TestDemo(t *testing.T) {
	wasm := filepath.Join("..", "..", "build", "gatewarden.wasm")
	if _, err := os.Stat(wasm); err != nil {
		t.Skip("build/gatewarden.wasm not built (make wasm)")
	}
	if testing.Short() {
		t.Skip("loads the filter; skipped with -short")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--wasm", wasm, "--listen", "127.0.0.1:0", "--issuer", "127.0.0.1:0",
			"--backend", "127.0.0.1:0", "--admin", "", "--vms", "1", "--cache-dir", filepath.Join(os.TempDir(), "gatewarden-test-wazero-cache"), "--log-level", "warn"}, &stdout, &stderr)
	}()
	var m []string
	deadline := time.After(5 * time.Minute) // compiling the filter under -race on a busy machine is slow
	for m == nil {
		select {
		case code := <-done:
			t.Fatalf("demo exited with %d:\n%s\n%s", code, stdout.String(), stderr.String())
		case <-deadline:
			t.Fatalf("demo printed no curl line:\n%s\n%s", stdout.String(), stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		m = tokenLineRE.FindStringSubmatch(stdout.String())
	}
	if strings.Contains(stderr.String(), "self-check failed") {
		t.Errorf("demo self-check failed:\n%s", stderr.String())
	}
	form, tokenURL, apiURL := m[1], m[2], m[3]

	// The token request, as the printed curl sends it.
	body := strings.NewReplacer("-d ", "", " ", "&").Replace(form)
	req, _ := http.NewRequest("POST", tokenURL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/plain")
	tok := string(mustDo(t, req, 200))
	tok = strings.TrimSpace(tok)

	req, _ = http.NewRequest("GET", apiURL, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("x-client-id", "spoofed")
	var echo struct {
		Path    string              `json:"path"`
		Headers map[string][]string `json:"headers"`
	}
	if err := json.Unmarshal(mustDo(t, req, 200), &echo); err != nil {
		t.Fatal(err)
	}
	if got := echo.Headers["X-Client-Id"]; len(got) != 1 || got[0] != "demo-app" {
		t.Errorf("backend saw x-client-id %v, want [demo-app]", got)
	}
	if got := echo.Headers["Authorization"]; len(got) != 1 || got[0] != "Bearer "+tok {
		t.Errorf("backend did not get the Authorization header")
	}
	if echo.Path != "/api/hello" {
		t.Errorf("backend path %q", echo.Path)
	}

	req, _ = http.NewRequest("GET", apiURL, nil)
	mustDo(t, req, 401)

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("demo exit %d after cancel:\n%s", code, stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not stop")
	}
}

func mustDo(t *testing.T, req *http.Request, want int) []byte {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.URL, resp.StatusCode, want, b)
	}
	return b
}
