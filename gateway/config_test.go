package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/gateway")

const goldenDir = "../testdata/gateway"

// TestGoldenConfigs parses every testdata/gateway/{valid,invalid}/*.yaml and compares
// the parsed config (valid) or the error text (invalid) with the golden file beside it.
func TestGoldenConfigs(t *testing.T) {
	for _, kind := range []string{"valid", "invalid"} {
		files, err := filepath.Glob(filepath.Join(goldenDir, kind, "*.yaml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no %s configs in %s (%v)", kind, goldenDir, err)
		}
		for _, file := range files {
			name := kind + "/" + strings.TrimSuffix(filepath.Base(file), ".yaml")
			t.Run(name, func(t *testing.T) {
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				cfg, err := Parse(data)
				if err == nil {
					err = cfg.Validate()
				}
				var got []byte
				golden := strings.TrimSuffix(file, ".yaml")
				if kind == "valid" {
					if err != nil {
						t.Fatalf("valid config refused: %v", err)
					}
					got, err = json.MarshalIndent(cfg, "", "  ")
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, '\n')
					golden += ".golden.json"
				} else {
					if err == nil {
						t.Fatal("invalid config accepted")
					}
					if !errors.Is(err, ErrInvalidConfig) {
						t.Errorf("error %v does not wrap ErrInvalidConfig", err)
					}
					got = []byte(err.Error() + "\n")
					golden += ".golden.txt"
				}
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test ./gateway -run TestGoldenConfigs -update)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("mismatch with %s (review, then -update):\n--- got\n%s--- want\n%s", golden, got, want)
				}
			})
		}
	}
}

func TestPluginDataConversion(t *testing.T) {
	cases := []struct {
		name string
		yaml string
		want string
	}{
		{"mapping keeps order", "z: 1\na: [true, null, 1.5, \"s\"]\nm: {k: v}", `{"z":1,"a":[true,null,1.5,"s"],"m":{"k":"v"}}`},
		{"string verbatim", `"{\"a\": 1}"`, `{"a": 1}`},
		{"plain text verbatim", `hello world`, `hello world`},
		{"alias", "x: &v {a: 1}\ny: *v", `{"x":{"a":1},"y":{"a":1}}`},
		{"quoted number stays string", `{n: "007"}`, `{"n":"007"}`},
		{"hex int", `{n: 0x10}`, `{"n":16}`},
		{"null", `null`, ``},
		{"list", `[1, two]`, `[1,"two"]`},
	}
	bomb := "plugins:\n  - name: p\n    path: p.wasm\n    configuration:\n      a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for i := range 9 {
		name := fmt.Sprintf("b%d", i)
		bomb += fmt.Sprintf("      %s: &%s [*%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s, *%s]\n", name, name, prev, prev, prev, prev, prev, prev, prev, prev, prev, prev)
		prev = name
	}
	start := time.Now()
	if _, err := Parse([]byte(bomb)); err == nil || !strings.Contains(err.Error(), "fewer YAML aliases") {
		t.Errorf("alias bomb: %v", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("alias bomb took %v", d)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("plugins:\n  - name: p\n    path: p.wasm\n    configuration: " + indent(tc.yaml) + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(cfg.Plugins[0].Configuration.Bytes); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func indent(s string) string {
	if !strings.Contains(s, "\n") {
		return s
	}
	return "\n      " + strings.ReplaceAll(s, "\n", "\n      ")
}

func TestLoadFileSetsBaseDir(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	data, err := os.ReadFile(filepath.Join(goldenDir, "valid", "minimal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.BaseDir != dir {
		t.Errorf("BaseDir = %q, want %q", cfg.BaseDir, dir)
	}
	if _, err := LoadFile(filepath.Join(dir, "missing.yaml")); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("missing file: %v", err)
	}
}

func TestCleanPathAndPrefixMatch(t *testing.T) {
	for in, want := range map[string]string{
		"/": "/", "": "/", "/a/../b": "/b", "/a/./b/": "/a/b/", "//a//b": "/a/b", "/..": "/", "/a/b/..": "/a",
	} {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
	cases := []struct {
		prefix, path string
		want         bool
	}{
		{"/", "/anything", true},
		{"/api", "/api", true},
		{"/api", "/api/x", true},
		{"/api", "/apix", false},
		{"/api/", "/api", false},
		{"/api/", "/api/x", true},
		{"/api/v1", "/api/v1/users", true},
	}
	for _, tc := range cases {
		if got := prefixMatch(tc.prefix, tc.path); got != tc.want {
			t.Errorf("prefixMatch(%q, %q) = %v, want %v", tc.prefix, tc.path, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(goldenDir, "*", "*.yaml"))
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte("plugins: [{name: p, path: p, configuration: &x {a: *x}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		_ = cfg.Validate()
		for _, p := range cfg.Plugins {
			b := p.Configuration.Bytes
			if len(b) > 0 && (b[0] == '{' || b[0] == '[') && !json.Valid(b) {
				t.Fatalf("configuration converted to invalid JSON: %s", b)
			}
		}
	})
}

// TestDocsExample keeps the complete example in docs/CONFIG.md valid.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/CONFIG.md")
	if err != nil {
		t.Skip("docs/CONFIG.md not found")
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/CONFIG.md has no ```yaml example")
	}
	cfg, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}
