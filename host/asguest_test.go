package host

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// A filter built with another proxy-wasm SDK (AssemblyScript and
// @solo-io/proxy-runtime, testdata/asguest) in this host. It needs node and
// npm (and the npm registry for the first build); the wasm is cached under
// the system temp dir, keyed by the sources.

var (
	asOnce sync.Once
	asWasm []byte
	asErr  error
	asSkip string
)

func asGuest(tb testing.TB) []byte {
	tb.Helper()
	asOnce.Do(func() {
		if _, err := exec.LookPath("npm"); err != nil {
			asSkip = "npm not installed"
			return
		}
		h := sha256.New()
		for _, f := range []string{"package.json", "package-lock.json", "assembly/index.ts"} {
			b, err := os.ReadFile(filepath.Join("testdata/asguest", f))
			if err != nil {
				asErr = err
				return
			}
			h.Write(b)
		}
		dir := filepath.Join(os.TempDir(), "gatewarden-host-asguest-"+hex.EncodeToString(h.Sum(nil))[:16])
		out := filepath.Join(dir, "as.wasm")
		if b, err := os.ReadFile(out); err == nil {
			asWasm = b
			return
		}
		if err := os.MkdirAll(filepath.Join(dir, "assembly"), 0o755); err != nil {
			asErr = err
			return
		}
		for _, f := range []string{"package.json", "package-lock.json", "assembly/index.ts"} {
			b, _ := os.ReadFile(filepath.Join("testdata/asguest", f))
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
				asErr = err
				return
			}
		}
		run := func(name string, args ...string) error {
			cmd := exec.Command(name, args...)
			cmd.Dir = dir
			if b, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, b)
			}
			return nil
		}
		if err := run("npm", "ci", "--no-audit", "--no-fund"); err != nil {
			asErr = err
			return
		}
		if err := run("node", "node_modules/assemblyscript/bin/asc", "assembly/index.ts", "-b", "as.wasm.tmp",
			"--use", "abort=abort_proc_exit", "--optimize"); err != nil {
			asErr = err
			return
		}
		if err := os.Rename(filepath.Join(dir, "as.wasm.tmp"), out); err != nil {
			asErr = err
			return
		}
		asWasm, asErr = os.ReadFile(out)
	})
	if asSkip != "" {
		tb.Skip(asSkip)
	}
	if asErr != nil {
		tb.Fatal(asErr)
	}
	return asWasm
}

func TestAssemblyScriptFilter(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an AssemblyScript filter (npm)")
	}
	wasm := asGuest(t)
	e := newEnv(t, func(c *PluginConfig) {
		c.Wasm, c.RootID, c.Configuration, c.VMs = wasm, "as_root", []byte("conf-as"), 2
	})
	if !e.p.metered {
		t.Fatal("the AssemblyScript module was not metered (host/meter)")
	}
	tests := []struct {
		name     string
		mode     string
		code     int
		contains string
		headers  map[string]string
	}{
		{"adds a request and a response header", "", 200, "x-as-path: /some/path?a=b", map[string]string{"X-As-Resp": "conf-as"}},
		{"local reply with headers", "deny", 403, "as says no", map[string]string{"X-As-Denied": "1"}},
		{"pause, http call, resume", "callout", 200, "x-as-callout: 200/", map[string]string{"X-As-Resp": "conf-as"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := e.do("as", "X-As", tt.mode)
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.code != tt.code || !strings.Contains(res.body, tt.contains) {
				t.Fatalf("%d %q, want %d with %q", res.code, res.body, tt.code, tt.contains)
			}
			for k, v := range tt.headers {
				if got := res.header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
	if e.p.Info().Restarts != 0 {
		t.Fatal("the AssemblyScript VM failed")
	}
}
