//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/oci"
)

// The real OCI registry (Debian's docker-registry, CNCF distribution 2.8): push both Wasm
// image formats Istio accepts, pull them back through every check, and tamper with what the
// registry stores to see each tampering refused.

var registryInstall struct {
	once sync.Once
	bin  string
	err  error
}

// needRegistry starts a fresh docker-registry for this test (it starts in well under a
// second), installing the package on first use, and stops it when the test ends.
func needRegistry(t *testing.T, htpasswd string) *RegistryServer {
	t.Helper()
	registryInstall.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		registryInstall.bin, registryInstall.err = InstallRegistry(ctx, suite.root)
	})
	if registryInstall.err != nil {
		unavailable(t, "docker-registry", registryInstall.err, "e2e/peers/install-registry.sh (apt-get install docker-registry; needs root or sudo)")
	}
	r, err := StartRegistry(ctxT(t, time.Minute), RegistryOptions{
		Bin:      registryInstall.bin,
		Dir:      t.TempDir(),
		LogPath:  filepath.Join(suite.out, "registry-"+logName(t.Name())+".log"),
		HTPasswd: htpasswd,
	})
	if err != nil {
		t.Fatalf("docker-registry is installed but did not start: %v", err)
	}
	t.Cleanup(r.Stop)
	t.Logf("docker-registry on %s ready in %s, log %s", r.Host, r.Startup.Round(time.Millisecond), r.Proc.LogPath)
	return r
}

func logName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, s)
}

// isolateDockerConfig makes the default keychain read only dir/config.json. Call it after
// anything that runs `go build` (which needs the real HOME for its caches).
func isolateDockerConfig(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("HOME", dir)
	t.Setenv("DOCKER_CONFIG", filepath.Join(dir, ".docker"))
	t.Setenv("XDG_RUNTIME_DIR", dir)
	t.Setenv("XDG_CONFIG_HOME", dir)
	t.Setenv("REGISTRY_AUTH_FILE", filepath.Join(dir, "none.json"))
	return filepath.Join(dir, ".docker")
}

// testWasm is a valid empty module: the wasm header and one custom section.
func testWasm(payload string) []byte {
	const name = "gatewarden-e2e"
	body := append([]byte{byte(len(name))}, name...)
	body = append(body, payload...)
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 0}
	for n := len(body); ; { // section size, unsigned LEB128
		c := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			out = append(out, c|0x80)
			continue
		}
		out = append(out, c)
		break
	}
	return append(out, body...)
}

func hexSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// modules are what the tests push: a small valid module, and the real filter when it has
// been built (make e2e builds it first).
func modules(t *testing.T) map[string][]byte {
	m := map[string][]byte{"dummy": testWasm("e2e")}
	p := os.Getenv("GATEWARDEN_WASM")
	if p == "" {
		p = filepath.Join(suite.root, "build", "gatewarden.wasm")
	}
	if b, err := os.ReadFile(p); err == nil {
		m["filter"] = b
	} else {
		t.Logf("real filter not pushed (%v); run make wasm to include it", err)
	}
	return m
}

func TestRegistryPushPullBothFormats(t *testing.T) {
	reg := needRegistry(t, "")
	isolateDockerConfig(t)
	ctx := ctxT(t, 2*time.Minute)
	for modName, wasm := range modules(t) {
		for _, f := range []struct {
			name     string
			artifact bool
			format   string
		}{{"compat", false, oci.FormatCompat}, {"artifact", true, oci.FormatArtifact}} {
			t.Run(modName+"/"+f.name, func(t *testing.T) {
				repo := reg.Host + "/gatewarden/" + modName
				ref := repo + ":" + f.name
				t0 := time.Now()
				digest, err := oci.Push(ctx, wasm, "oci://"+ref, oci.PushOptions{Artifact: f.artifact})
				if err != nil {
					t.Fatalf("Push: %v", err)
				}
				pushT := time.Since(t0)
				cache := t.TempDir()
				for _, r := range []string{ref, repo + "@" + digest} {
					t0 = time.Now()
					m, err := oci.PullModule(ctx, "oci://"+r, oci.PullOptions{CacheDir: cache, SHA256: hexSHA256(wasm), Policy: oci.PolicyAlways})
					if err != nil {
						t.Fatalf("PullModule(%s): %v", r, err)
					}
					if !bytes.Equal(m.Wasm, wasm) || m.Digest != digest || m.Format != f.format {
						t.Fatalf("PullModule(%s) = %d bytes, digest %s, format %s; want %d bytes, %s, %s",
							r, len(m.Wasm), m.Digest, m.Format, len(wasm), digest, f.format)
					}
					t.Logf("%s: %d bytes, push %s, pull %s (cached=%v)", r, len(wasm), pushT.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond), m.Cached)
				}
				// Re-pushing the same module gives the same digest: pins survive rebuilds of the image.
				again, err := oci.Push(ctx, wasm, ref+"-again", oci.PushOptions{Artifact: f.artifact})
				if err != nil || again != digest {
					t.Fatalf("re-push: %s, %v; want %s", again, err, digest)
				}
			})
		}
	}
}

// flip inverts one byte of a file in place (same size, so the registry serves it as is).
func flip(t *testing.T, path string) (restore func()) {
	t.Helper()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading stored blob: %v", err)
	}
	b := bytes.Clone(orig)
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return func() { _ = os.WriteFile(path, orig, 0o644) }
}

func TestRegistryRefusesTampering(t *testing.T) {
	reg := needRegistry(t, "")
	isolateDockerConfig(t)
	ctx := ctxT(t, 2*time.Minute)
	wasm, other := testWasm("genuine"), testWasm("evil")
	repo := reg.Host + "/gatewarden/tamper"

	for _, artifact := range []bool{false, true} {
		name := map[bool]string{false: "compat", true: "artifact"}[artifact]
		t.Run(name, func(t *testing.T) {
			digest, err := oci.Push(ctx, wasm, repo+":"+name, oci.PushOptions{Artifact: artifact})
			if err != nil {
				t.Fatal(err)
			}
			otherDigest, err := oci.Push(ctx, other, repo+":"+name+"-other", oci.PushOptions{Artifact: artifact})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := oci.Pull(ctx, repo+"@"+digest, oci.PullOptions{}); err != nil {
				t.Fatalf("untampered pull: %v", err)
			}

			t.Run("layer blob flipped on disk", func(t *testing.T) {
				layer := layerDigest(t, reg, digest, artifact)
				restore := flip(t, reg.BlobPath(layer))
				defer restore()
				for _, r := range []string{repo + "@" + digest, repo + ":" + name} {
					_, err := oci.Pull(ctx, r, oci.PullOptions{})
					if !errors.Is(err, oci.ErrDigestMismatch) {
						t.Fatalf("Pull(%s) = %v, want ErrDigestMismatch", r, err)
					}
					t.Logf("refused: %v", err)
				}
			})
			t.Run("manifest swapped on disk", func(t *testing.T) {
				path := reg.BlobPath(digest)
				orig, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				swapped, err := os.ReadFile(reg.BlobPath(otherDigest))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, swapped, 0o644); err != nil {
					t.Fatal(err)
				}
				defer os.WriteFile(path, orig, 0o644)
				_, err = oci.Pull(ctx, repo+"@"+digest, oci.PullOptions{})
				if !errors.Is(err, oci.ErrDigestMismatch) {
					t.Fatalf("Pull by digest = %v, want ErrDigestMismatch", err)
				}
				t.Logf("by digest, refused: %v", err)
				// By tag: the registry's own digest header gives the swap away; a pin would too.
				m, err := oci.PullModule(ctx, repo+":"+name, oci.PullOptions{SHA256: hexSHA256(wasm)})
				if err == nil {
					t.Fatalf("Pull by tag accepted a swapped manifest (got %s)", m.Digest)
				}
				t.Logf("by tag, refused: %v", err)
			})
			t.Run("unknown digest", func(t *testing.T) {
				_, err := oci.Pull(ctx, repo+"@sha256:"+strings.Repeat("ab", 32), oci.PullOptions{})
				if !errors.Is(err, oci.ErrRegistry) {
					t.Fatalf("Pull = %v, want ErrRegistry", err)
				}
			})
			t.Run("pin of another module", func(t *testing.T) {
				_, err := oci.Pull(ctx, repo+":"+name, oci.PullOptions{SHA256: hexSHA256(other)})
				if !errors.Is(err, oci.ErrSHA256Mismatch) {
					t.Fatalf("Pull = %v, want ErrSHA256Mismatch", err)
				}
			})
			t.Run("intact after restore", func(t *testing.T) {
				if _, err := oci.Pull(ctx, repo+"@"+digest, oci.PullOptions{SHA256: hexSHA256(wasm)}); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// layerDigest reads the stored manifest to find the blob holding the module.
func layerDigest(t *testing.T, reg *RegistryServer, manifestDigest string, artifact bool) string {
	t.Helper()
	b, err := os.ReadFile(reg.BlobPath(manifestDigest))
	if err != nil {
		t.Fatal(err)
	}
	want := string(oci.MediaTypeWasmContent)
	if !artifact {
		want = "application/vnd.oci.image.layer.v1.tar+gzip"
	}
	s := string(b)
	i := strings.Index(s, `"mediaType":"`+want+`"`)
	if i < 0 {
		t.Fatalf("manifest has no %s layer: %s", want, s)
	}
	j := strings.Index(s[i:], `"digest":"`)
	if j < 0 {
		t.Fatalf("no digest after the layer media type: %s", s)
	}
	d := s[i+j+len(`"digest":"`):]
	return d[:strings.IndexByte(d, '"')]
}

func TestRegistryCacheServesWhenRegistryIsDown(t *testing.T) {
	reg := needRegistry(t, "")
	isolateDockerConfig(t)
	ctx := ctxT(t, 2*time.Minute)
	wasm := testWasm("offline")
	ref := reg.Host + "/gatewarden/offline:v1"
	digest, err := oci.Push(ctx, wasm, ref, oci.PushOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	if _, err := oci.Pull(ctx, ref, oci.PullOptions{CacheDir: cache}); err != nil {
		t.Fatal(err)
	}
	reg.Stop()
	for _, r := range []string{ref, reg.Host + "/gatewarden/offline@" + digest} {
		m, err := oci.PullModule(ctx, r, oci.PullOptions{CacheDir: cache, SHA256: hexSHA256(wasm)})
		if err != nil || !m.Cached || !bytes.Equal(m.Wasm, wasm) {
			t.Fatalf("IfNotPresent with the registry down (%s): cached=%v, %v", r, m != nil && m.Cached, err)
		}
	}
	if _, err := oci.Pull(ctx, ref, oci.PullOptions{CacheDir: cache, Policy: oci.PolicyAlways}); !errors.Is(err, oci.ErrRegistry) {
		t.Fatalf("Always with the registry down = %v, want ErrRegistry", err)
	}
	if _, err := oci.Pull(ctx, ref, oci.PullOptions{CacheDir: cache, SHA256: hexSHA256(testWasm("x"))}); err == nil {
		t.Fatal("a pin the cache misses was satisfied with the registry down")
	}
}

// registryHTPasswd holds user "robot" with password registryPassword, bcrypt cost 4
// (generated with python3 crypt.METHOD_BLOWFISH; a throwaway test credential).
const (
	registryUser     = "robot"
	registryPassword = "gatewarden-e2e-password"
	registryHTPasswd = "robot:$2b$04$A7M47V4wo5OZ88klTjpFluvYUWTWy3U/TkKR2oW2/Tx9oHqq1iZuO\n"
)

func TestRegistryCredentialsFromDockerConfig(t *testing.T) {
	reg := needRegistry(t, registryHTPasswd)
	dockerDir := isolateDockerConfig(t)
	ctx := ctxT(t, 2*time.Minute)
	wasm := testWasm("private")
	ref := reg.Host + "/gatewarden/private:v1"

	_, err := oci.Push(ctx, wasm, ref, oci.PushOptions{})
	if !errors.Is(err, oci.ErrRegistry) || !strings.Contains(err.Error(), "docker config") {
		t.Fatalf("anonymous Push = %v, want ErrRegistry with a login hint", err)
	}
	writeAuth := func(pass string) {
		if err := os.MkdirAll(dockerDir, 0o700); err != nil {
			t.Fatal(err)
		}
		auth := base64.StdEncoding.EncodeToString([]byte(registryUser + ":" + pass))
		cfg := `{"auths":{"` + reg.Host + `":{"auth":"` + auth + `"}}}`
		if err := os.WriteFile(filepath.Join(dockerDir, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeAuth("not-the-password")
	if _, err := oci.Push(ctx, wasm, ref, oci.PushOptions{}); !errors.Is(err, oci.ErrRegistry) || strings.Contains(err.Error(), "not-the-password") {
		t.Fatalf("wrong password: %v (must fail and never echo the secret)", err)
	}
	writeAuth(registryPassword)
	for _, artifact := range []bool{false, true} {
		digest, err := oci.Push(ctx, wasm, ref, oci.PushOptions{Artifact: artifact})
		if err != nil {
			t.Fatalf("authenticated Push: %v", err)
		}
		m, err := oci.PullModule(ctx, ref, oci.PullOptions{SHA256: hexSHA256(wasm)})
		if err != nil || m.Digest != digest {
			t.Fatalf("authenticated Pull: %v", err)
		}
	}
}

// TestRegistryCLI runs `gatewarden oci push` and `gatewarden oci pull` as a user would.
func TestRegistryCLI(t *testing.T) {
	bin := needGatewayBinary(t) // before isolateDockerConfig: go build needs the real HOME
	reg := needRegistry(t, "")
	isolateDockerConfig(t)
	dir := t.TempDir()
	wasm := testWasm("cli")
	in := filepath.Join(dir, "plugin.wasm")
	if err := os.WriteFile(in, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	field := func(out, key string) string {
		for _, l := range strings.Split(out, "\n") {
			if v, ok := strings.CutPrefix(l, key+": "); ok {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("no %q line in:\n%s", key, out)
		return ""
	}
	for _, flags := range [][]string{nil, {"--artifact"}} {
		ref := reg.Host + "/gatewarden/cli:v" + string(rune('1'+len(flags)))
		out, err := run(append(append([]string{"oci", "push"}, flags...), in, ref)...)
		if err != nil {
			t.Fatalf("oci push %v: %v\n%s", flags, err, out)
		}
		digest, sum := field(out, "digest"), field(out, "sha256")
		if sum != hexSHA256(wasm) || !strings.HasPrefix(digest, "sha256:") {
			t.Fatalf("push printed digest %q sha256 %q; want sha256 %s\n%s", digest, sum, hexSHA256(wasm), out)
		}
		dst := filepath.Join(dir, "pulled.wasm")
		out, err = run("oci", "pull", "--sha256", sum, "oci://"+ref, "-o", dst)
		if err != nil {
			t.Fatalf("oci pull: %v\n%s", err, out)
		}
		if got, _ := os.ReadFile(dst); !bytes.Equal(got, wasm) {
			t.Fatalf("pulled file differs from the pushed module\n%s", out)
		}
		if field(out, "digest") != digest {
			t.Fatalf("pull digest %s, push digest %s", field(out, "digest"), digest)
		}
		out, err = run("oci", "pull", "--sha256", hexSHA256(testWasm("other")), ref, "-o", filepath.Join(dir, "refused.wasm"))
		if err == nil || !strings.Contains(out, "does not match") {
			t.Fatalf("pull with a wrong pin: %v\n%s", err, out)
		}
		if _, err := os.Stat(filepath.Join(dir, "refused.wasm")); !os.IsNotExist(err) {
			t.Fatal("a refused pull wrote its output file")
		}
	}
}
