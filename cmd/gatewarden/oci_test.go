package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatewarden/gatewarden/oci"
	"github.com/google/go-containerregistry/pkg/registry"
)

// ociTestWasm is a valid empty module: the wasm header and one custom section.
func ociTestWasm(payload string) []byte {
	const name = "cli-test"
	body := append([]byte{byte(len(name))}, name...)
	body = append(body, payload...)
	return append([]byte{0, 'a', 's', 'm', 1, 0, 0, 0, 0, byte(len(body))}, body...)
}

func ociTestRegistry(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("DOCKER_CONFIG", filepath.Join(dir, ".docker"))
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(dir, "none.json"))
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("XDG_CONFIG_HOME", dir)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func ociRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = ociMain(context.Background(), args, &o, &e)
	return o.String(), e.String(), err
}

func ociField(t *testing.T, out, key string) string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(l, key+": "); ok {
			return v
		}
	}
	t.Fatalf("no %q line in:\n%s", key, out)
	return ""
}

func TestOCIPushPull(t *testing.T) {
	host := ociTestRegistry(t)
	dir := t.TempDir()
	wasm := ociTestWasm("push pull")
	sum := sha256.Sum256(wasm)
	hexSum := hex.EncodeToString(sum[:])
	in := filepath.Join(dir, "plugin.wasm")
	if err := os.WriteFile(in, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, kind, format string
		flags              []string
	}{
		{"compat", "compat image", oci.FormatCompat, nil},
		{"artifact", "OCI Wasm artifact", oci.FormatArtifact, []string{"--artifact"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := host + "/cli/" + tc.name + ":v1"
			out, _, err := ociRun(t, append(append([]string{"push"}, tc.flags...), in, ref)...)
			if err != nil {
				t.Fatal(err)
			}
			digest := ociField(t, out, "digest")
			if ociField(t, out, "sha256") != hexSum || !strings.Contains(out, tc.kind) {
				t.Fatalf("push output:\n%s", out)
			}
			if url := ociField(t, out, "url"); url != "oci://"+host+"/cli/"+tc.name+"@"+digest {
				t.Fatalf("url %q", url)
			}

			dst := filepath.Join(dir, tc.name+".wasm")
			// Flags after the positional argument, as the usage line shows them.
			out, _, err = ociRun(t, "pull", "oci://"+ref, "-o", dst, "--sha256", hexSum)
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(dst); !bytes.Equal(got, wasm) {
				t.Fatal("pulled file differs")
			}
			if ociField(t, out, "digest") != digest || !strings.Contains(out, tc.format) {
				t.Fatalf("pull output:\n%s", out)
			}

			out, errOut, err := ociRun(t, "pull", "-o", "-", host+"/cli/"+tc.name+"@"+digest)
			if err != nil || out != string(wasm) || !strings.Contains(errOut, "sha256: "+hexSum) {
				t.Fatalf("pull to stdout: %v\nstdout %q\nstderr %s", err, out, errOut)
			}
		})
	}
	t.Run("cache", func(t *testing.T) {
		cache := t.TempDir()
		ref := host + "/cli/compat:v1"
		for i, want := range []string{"compat) ->", "compat, from cache) ->"} {
			out, _, err := ociRun(t, "pull", "--cache", cache, ref, "-o", filepath.Join(dir, "c.wasm"))
			if err != nil || !strings.Contains(out, want) {
				t.Fatalf("pull %d: %v\n%s", i, err, out)
			}
		}
	})
	t.Run("wrong pin writes nothing", func(t *testing.T) {
		dst := filepath.Join(dir, "refused.wasm")
		other := sha256.Sum256([]byte("other"))
		_, _, err := ociRun(t, "pull", "--sha256", hex.EncodeToString(other[:]), host+"/cli/compat:v1", "-o", dst)
		if !errors.Is(err, oci.ErrSHA256Mismatch) {
			t.Fatalf("err = %v, want ErrSHA256Mismatch", err)
		}
		if _, err := os.Stat(dst); !os.IsNotExist(err) {
			t.Fatal("refused module written")
		}
		if m, _ := filepath.Glob(filepath.Join(dir, ".refused.wasm.tmp-*")); len(m) != 0 {
			t.Fatalf("temp files left: %v", m)
		}
	})
}

func TestOCIUsageErrors(t *testing.T) {
	host := ociTestRegistry(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "plugin.wasm")
	_ = os.WriteFile(good, ociTestWasm(""), 0o644)
	bad := filepath.Join(dir, "script.sh")
	_ = os.WriteFile(bad, []byte("#!/bin/sh\n"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want error
	}{
		{"no subcommand", nil, errOCIUsage},
		{"unknown subcommand", []string{"list"}, errOCIUsage},
		{"push without ref", []string{"push", good}, errOCIUsage},
		{"push unknown flag", []string{"push", "--force", good, host + "/x:v1"}, errOCIUsage},
		{"push missing file", []string{"push", filepath.Join(dir, "nope.wasm"), host + "/x:v1"}, os.ErrNotExist},
		{"push directory", []string{"push", dir, host + "/x:v1"}, nil},
		{"push not wasm", []string{"push", bad, host + "/x:v1"}, oci.ErrNotWasm},
		{"push without tag", []string{"push", good, host + "/x"}, oci.ErrInvalidReference},
		{"pull without -o", []string{"pull", host + "/x:v1"}, errOCIUsage},
		{"pull two refs", []string{"pull", host + "/x:v1", host + "/y:v1", "-o", "f"}, errOCIUsage},
		{"pull bad pin", []string{"pull", "--sha256", "abc", host + "/x:v1", "-o", filepath.Join(dir, "f")}, oci.ErrInvalidOptions},
		{"pull bad policy", []string{"pull", "--pull-policy", "Never", host + "/x:v1", "-o", filepath.Join(dir, "f")}, oci.ErrInvalidOptions},
		{"pull missing image", []string{"pull", host + "/missing:v1", "-o", filepath.Join(dir, "f")}, oci.ErrRegistry},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ociRun(t, tc.args...)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if out, _, err := ociRun(t, "--help"); err != nil || !strings.Contains(out, "gatewarden oci push") {
		t.Fatalf("help: %v\n%s", err, out)
	}
	if _, _, err := ociRun(t, "push", "-h"); err != nil {
		t.Fatalf("push -h: %v", err)
	}
}

func TestOCIParseInterspersed(t *testing.T) {
	fs := ociFlagSet("t", io.Discard)
	o := fs.String("o", "", "")
	b := fs.Bool("insecure", false, "")
	pos, err := ociParse(fs, []string{"a", "-o", "f", "b", "--insecure", "--", "-c"})
	if err != nil || *o != "f" || !*b || strings.Join(pos, ",") != "a,b,-c" {
		t.Fatalf("pos %q o %q insecure %v err %v", pos, *o, *b, err)
	}
}
