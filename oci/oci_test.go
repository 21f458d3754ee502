package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/")

func TestPushPullRoundTrip(t *testing.T) {
	reg := newTestRegistry(t)
	wasm := dummyWasm("round trip")
	for _, tc := range []struct {
		name       string
		artifact   bool
		wantFormat string
	}{
		{name: "compat", wantFormat: FormatCompat},
		{name: "artifact", artifact: true, wantFormat: FormatArtifact},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := reg.Host + "/gatewarden/" + tc.name + ":v1"
			digest := mustPush(t, wasm, "oci://"+ref, PushOptions{Artifact: tc.artifact})
			if !strings.HasPrefix(digest, "sha256:") || len(digest) != 71 {
				t.Fatalf("digest = %q", digest)
			}
			byDigest := reg.Host + "/gatewarden/" + tc.name + "@" + digest
			for _, r := range []string{ref, "oci://" + ref, byDigest} {
				m, err := PullModule(context.Background(), r, PullOptions{})
				if err != nil {
					t.Fatalf("PullModule(%s): %v", r, err)
				}
				if !bytes.Equal(m.Wasm, wasm) {
					t.Fatalf("PullModule(%s) returned %d bytes, want the pushed %d", r, len(m.Wasm), len(wasm))
				}
				if m.Digest != digest || m.SHA256 != sha256Hex(wasm) || m.Format != tc.wantFormat || m.Cached {
					t.Fatalf("PullModule(%s) = {Digest %s SHA256 %s Format %s Cached %v}, want {%s %s %s false}",
						r, m.Digest, m.SHA256, m.Format, m.Cached, digest, sha256Hex(wasm), tc.wantFormat)
				}
			}
			b, err := Pull(context.Background(), byDigest, PullOptions{SHA256: sha256Hex(wasm)})
			if err != nil || !bytes.Equal(b, wasm) {
				t.Fatalf("Pull(%s) = %d bytes, %v", byDigest, len(b), err)
			}
		})
	}
}

// TestPushedFormats checks the exact shapes Istio's image fetcher accepts, against golden
// manifests (regenerate with: go test ./oci -run TestPushedFormats -update).
func TestPushedFormats(t *testing.T) {
	reg := newTestRegistry(t)
	wasm := dummyWasm("golden")
	for _, tc := range []struct {
		name     string
		artifact bool
	}{{"compat", false}, {"artifact", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ref := reg.Host + "/fmt/" + tc.name + ":v1"
			digest := mustPush(t, wasm, ref, PushOptions{Artifact: tc.artifact})
			desc, err := remote.Get(mustRef(t, ref))
			if err != nil {
				t.Fatal(err)
			}
			if desc.MediaType != types.OCIManifestSchema1 || desc.Digest.String() != digest {
				t.Fatalf("served as %s %s, want %s %s", desc.MediaType, desc.Digest, types.OCIManifestSchema1, digest)
			}
			golden(t, filepath.Join("testdata", tc.name+"-manifest.json"), indentJSON(t, desc.Manifest))
			m, err := v1.ParseManifest(bytes.NewReader(desc.Manifest))
			if err != nil {
				t.Fatal(err)
			}
			if m.Config.MediaType != types.OCIConfigJSON {
				t.Errorf("config media type %s", m.Config.MediaType)
			}
			img, err := desc.Image()
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cfg.OS != "wasip1" || cfg.Architecture != "wasm" || len(cfg.RootFS.DiffIDs) != len(m.Layers) {
				t.Errorf("config %+v", cfg)
			}
			layers, err := img.Layers()
			if err != nil {
				t.Fatal(err)
			}
			if !tc.artifact {
				if len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer || m.Annotations[AnnotationVariant] != VariantCompat {
					t.Fatalf("compat manifest %+v", m)
				}
				rc, err := layers[0].Uncompressed()
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				tr := tar.NewReader(rc)
				h, err := tr.Next()
				if err != nil || h.Name != PluginFileName || h.Typeflag != tar.TypeReg {
					t.Fatalf("first tar entry %+v, %v", h, err)
				}
				got, _ := io.ReadAll(tr)
				if !bytes.Equal(got, wasm) {
					t.Fatal("plugin.wasm differs from the pushed module")
				}
				if _, err := tr.Next(); err != io.EOF {
					t.Fatalf("layer has more than plugin.wasm: %v", err)
				}
				diffID, _ := layers[0].DiffID()
				if cfg.RootFS.DiffIDs[0] != diffID {
					t.Errorf("diff_id %s, layer hashes to %s", cfg.RootFS.DiffIDs[0], diffID)
				}
				return
			}
			if len(m.Layers) != 2 || m.Layers[0].MediaType != MediaTypeWasmConfig || m.Layers[1].MediaType != MediaTypeWasmContent {
				t.Fatalf("artifact layers %+v", m.Layers)
			}
			raw := func(l v1.Layer) []byte {
				rc, err := l.Compressed()
				if err != nil {
					t.Fatal(err)
				}
				defer rc.Close()
				b, _ := io.ReadAll(rc)
				return b
			}
			if !bytes.Equal(raw(layers[1]), wasm) {
				t.Fatal("content layer is not the raw module")
			}
			var rcfg map[string]any
			if err := json.Unmarshal(raw(layers[0]), &rcfg); err != nil || rcfg["type"] != "envoy_proxy" {
				t.Fatalf("runtime config %v, %v", rcfg, err)
			}
		})
	}
}

func TestPushIsReproducible(t *testing.T) {
	reg := newTestRegistry(t)
	w := dummyWasm("same")
	a := mustPush(t, w, reg.Host+"/r:a", PushOptions{})
	b := mustPush(t, w, reg.Host+"/r:b", PushOptions{})
	c := mustPush(t, w, reg.Host+"/r:c", PushOptions{Artifact: true})
	d := mustPush(t, dummyWasm("other"), reg.Host+"/r:d", PushOptions{})
	if a != b {
		t.Errorf("same module, two digests: %s %s", a, b)
	}
	if a == c || a == d {
		t.Errorf("different images share a digest: compat %s artifact %s other %s", a, c, d)
	}
}

func TestPushRejects(t *testing.T) {
	reg := newTestRegistry(t)
	for _, tc := range []struct {
		name string
		wasm []byte
		ref  string
		opts PushOptions
		want error
	}{
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), reg.Host + "/x:v1", PushOptions{}, ErrNotWasm},
		{"empty", nil, reg.Host + "/x:v1", PushOptions{}, ErrNotWasm},
		{"component not core module", append([]byte{0, 'a', 's', 'm', 0x0d, 0, 1, 0}, 0), reg.Host + "/x:v1", PushOptions{}, ErrNotWasm},
		{"too large", dummyWasm(strings.Repeat("x", 100)), reg.Host + "/x:v1", PushOptions{MaxBytes: 64}, ErrTooLarge},
		{"negative limit", dummyWasm(""), reg.Host + "/x:v1", PushOptions{MaxBytes: -1}, ErrInvalidOptions},
		{"no tag", dummyWasm(""), reg.Host + "/x", PushOptions{}, ErrInvalidReference},
		{"digest", dummyWasm(""), reg.Host + "/x@sha256:" + strings.Repeat("a", 64), PushOptions{}, ErrInvalidReference},
		{"no registry", dummyWasm(""), "gatewarden/x:v1", PushOptions{}, ErrInvalidReference},
		{"empty ref", dummyWasm(""), "oci://", PushOptions{}, ErrInvalidReference},
		{"bad chars", dummyWasm(""), reg.Host + "/X Y:v1", PushOptions{}, ErrInvalidReference},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Push(context.Background(), tc.wasm, tc.ref, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Push = %v, want %v", err, tc.want)
			}
		})
	}
	if n := countPrefix(reg.take(), "/v2/"); n != 0 {
		t.Errorf("refused pushes made %d registry requests", n)
	}
}

// tarGz builds a gzip tar from entries in order.
func tarGz(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Size: int64(len(e.data))}
		if typ == tar.TypeDir || typ == tar.TypeSymlink {
			h.Size = 0
			h.Linkname = string(e.data)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(e.data); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type tarEntry struct {
	name string
	data []byte
	typ  byte
}

type rawLayer struct {
	data []byte
	mt   types.MediaType
}

// pushImage writes a hand-made image; manifestType is the manifest's media type.
func pushImage(t *testing.T, ref string, manifestType types.MediaType, layers ...rawLayer) string {
	t.Helper()
	var adds []mutate.Addendum
	for _, l := range layers {
		adds = append(adds, mutate.Addendum{Layer: static.NewLayer(l.data, l.mt)})
	}
	img, err := mutate.Append(empty.Image, adds...)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, manifestType)
	if manifestType == types.OCIManifestSchema1 {
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	}
	r := mustRef(t, ref)
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	return d.String()
}

func TestPullOtherFormats(t *testing.T) {
	reg := newTestRegistry(t)
	wasm := dummyWasm("formats")
	compatLayer := tarGz(t, tarEntry{name: "plugin.wasm", data: wasm})
	for _, tc := range []struct {
		name       string
		mt         types.MediaType
		layers     []rawLayer
		wantFormat string
		wantErr    error
	}{
		{name: "docker compat", mt: types.DockerManifestSchema2, layers: []rawLayer{{compatLayer, types.DockerLayer}}, wantFormat: FormatCompatDocker},
		{name: "docker compat, last of two layers", mt: types.DockerManifestSchema2,
			layers: []rawLayer{{tarGz(t, tarEntry{name: "etc/x", data: []byte("x")}), types.DockerLayer}, {compatLayer, types.DockerLayer}}, wantFormat: FormatCompatDocker},
		{name: "compat in a subdirectory with runtime config", mt: types.OCIManifestSchema1,
			layers: []rawLayer{{tarGz(t, tarEntry{name: "runtime-config.json", data: []byte("{}")}, tarEntry{name: "./filters/plugin.wasm", data: wasm}), types.OCILayer}}, wantFormat: FormatCompat},
		{name: "artifact, module first (Istio's own test order)", mt: types.OCIManifestSchema1,
			layers: []rawLayer{{wasm, MediaTypeWasmContent}, {[]byte(`{}`), MediaTypeWasmConfig}}, wantFormat: FormatArtifact},
		{name: "OCI layer without plugin.wasm but artifact shape", mt: types.OCIManifestSchema1,
			layers: []rawLayer{{[]byte(`{}`), MediaTypeWasmConfig}, {wasm, MediaTypeWasmContent}}, wantFormat: FormatArtifact},
		{name: "docker manifest with OCI layer", mt: types.DockerManifestSchema2, layers: []rawLayer{{compatLayer, types.OCILayer}}, wantErr: ErrUnsupportedFormat},
		{name: "OCI manifest with docker layer", mt: types.OCIManifestSchema1, layers: []rawLayer{{compatLayer, types.DockerLayer}}, wantErr: ErrUnsupportedFormat},
		{name: "uncompressed tar layer", mt: types.OCIManifestSchema1, layers: []rawLayer{{[]byte("tar"), types.OCIUncompressedLayer}}, wantErr: ErrUnsupportedFormat},
		{name: "no plugin.wasm", mt: types.OCIManifestSchema1, layers: []rawLayer{{tarGz(t, tarEntry{name: "filter.wasm", data: wasm}), types.OCILayer}}, wantErr: ErrUnsupportedFormat},
		{name: "plugin.wasm is a directory", mt: types.OCIManifestSchema1, layers: []rawLayer{{tarGz(t, tarEntry{name: "plugin.wasm/", typ: tar.TypeDir}), types.OCILayer}}, wantErr: ErrUnsupportedFormat},
		{name: "plugin.wasm is a symlink", mt: types.OCIManifestSchema1, layers: []rawLayer{{tarGz(t, tarEntry{name: "plugin.wasm", typ: tar.TypeSymlink, data: []byte("/etc/passwd")}), types.OCILayer}}, wantErr: ErrUnsupportedFormat},
		{name: "plugin.wasm is not wasm", mt: types.OCIManifestSchema1, layers: []rawLayer{{tarGz(t, tarEntry{name: "plugin.wasm", data: []byte("MZ\x90\x00 not wasm")}), types.OCILayer}}, wantErr: ErrNotWasm},
		{name: "layer claims gzip but is not", mt: types.OCIManifestSchema1, layers: []rawLayer{{[]byte("plain"), types.OCILayer}}, wantErr: ErrUnsupportedFormat},
		{name: "artifact with three layers", mt: types.OCIManifestSchema1,
			layers: []rawLayer{{[]byte(`{}`), MediaTypeWasmConfig}, {wasm, MediaTypeWasmContent}, {[]byte("x"), "application/octet-stream"}}, wantErr: ErrUnsupportedFormat},
		{name: "artifact without content layer", mt: types.OCIManifestSchema1,
			layers: []rawLayer{{[]byte(`{}`), MediaTypeWasmConfig}, {wasm, "application/octet-stream"}}, wantErr: ErrUnsupportedFormat},
		{name: "artifact content is not wasm", mt: types.OCIManifestSchema1,
			layers: []rawLayer{{[]byte(`{}`), MediaTypeWasmConfig}, {[]byte("\x7fELF...."), MediaTypeWasmContent}}, wantErr: ErrNotWasm},
		{name: "no layers", mt: types.OCIManifestSchema1, wantErr: ErrUnsupportedFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := reg.Host + "/other/" + slug(tc.name) + ":v1"
			digest := pushImage(t, ref, tc.mt, tc.layers...)
			m, err := PullModule(context.Background(), ref, PullOptions{})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("PullModule = %v, want %v", err, tc.wantErr)
				}
				t.Logf("error: %v", err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Wasm, wasm) || m.Format != tc.wantFormat || m.Digest != digest {
				t.Fatalf("got format %s digest %s (%d bytes), want %s %s", m.Format, m.Digest, len(m.Wasm), tc.wantFormat, digest)
			}
		})
	}
}

func TestPullRefusesIndex(t *testing.T) {
	reg := newTestRegistry(t)
	img, err := buildImage(dummyWasm("idx"), false)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img})
	ref := reg.Host + "/idx:v1"
	if err := remote.WriteIndex(mustRef(t, ref), idx); err != nil {
		t.Fatal(err)
	}
	_, err = Pull(context.Background(), ref, PullOptions{})
	if !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), "index") {
		t.Fatalf("Pull(index) = %v, want ErrUnsupportedFormat naming the index", err)
	}
}

func TestPullSHA256Pin(t *testing.T) {
	reg := newTestRegistry(t)
	wasm := dummyWasm("pinned")
	ref := reg.Host + "/pin:v1"
	digest := mustPush(t, wasm, ref, PushOptions{})
	sum := sha256Hex(wasm)
	for _, tc := range []struct {
		name, pin string
		want      error
	}{
		{"matching", sum, nil},
		{"matching with prefix and upper case", "sha256:" + strings.ToUpper(sum), nil},
		{"manifest digest, as Istio's WasmPlugin.sha256 for oci:// urls", strings.TrimPrefix(digest, "sha256:"), nil},
		{"manifest digest with prefix", digest, nil},
		{"digest of another manifest", mustPush(t, wasm, reg.Host+"/pin:artifact", PushOptions{Artifact: true}), ErrSHA256Mismatch},
		{"other module", sha256Hex(dummyWasm("other")), ErrSHA256Mismatch},
		{"one digit off", sum[:63] + string("0123456789abcdef"[(strings.IndexByte("0123456789abcdef", sum[63])+1)%16]), ErrSHA256Mismatch},
		{"short", sum[:10], ErrInvalidOptions},
		{"not hex", strings.Repeat("z", 64), ErrInvalidOptions},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := t.TempDir()
			b, err := Pull(context.Background(), ref, PullOptions{SHA256: tc.pin, CacheDir: cache})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Pull = %v, want %v", err, tc.want)
			}
			if tc.want != nil {
				if b != nil {
					t.Fatal("refused pull returned bytes")
				}
				if files, _ := filepath.Glob(filepath.Join(cache, "wasm", "*")); len(files) != 0 {
					t.Fatalf("refused module was cached: %v", files)
				}
				return
			}
			if !bytes.Equal(b, wasm) {
				t.Fatal("wrong bytes")
			}
		})
	}
}

func TestPullDigestVerified(t *testing.T) {
	reg := newTestRegistry(t)
	wasm := dummyWasm("digest")
	repo := reg.Host + "/dg"
	digest := mustPush(t, wasm, repo+":v1", PushOptions{Artifact: true})
	other := mustPush(t, dummyWasm("other"), repo+":v2", PushOptions{Artifact: true})

	t.Run("unknown digest", func(t *testing.T) {
		_, err := Pull(context.Background(), repo+"@sha256:"+strings.Repeat("0", 64), PullOptions{})
		if !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "404") {
			t.Fatalf("Pull = %v, want ErrRegistry 404", err)
		}
	})
	t.Run("registry serves another manifest for the digest", func(t *testing.T) {
		desc, err := remote.Get(mustRef(t, repo+"@"+other))
		if err != nil {
			t.Fatal(err)
		}
		reg.setTamper(func(r *http.Request, body []byte) []byte {
			if strings.Contains(r.URL.Path, "/manifests/") {
				return desc.Manifest
			}
			return body
		})
		defer reg.setTamper(nil)
		_, err = Pull(context.Background(), repo+"@"+digest, PullOptions{})
		if !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("Pull = %v, want ErrDigestMismatch", err)
		}
	})
	t.Run("registry serves another manifest for the tag", func(t *testing.T) {
		desc, err := remote.Get(mustRef(t, repo+"@"+other))
		if err != nil {
			t.Fatal(err)
		}
		reg.setTamper(func(r *http.Request, body []byte) []byte {
			if strings.HasSuffix(r.URL.Path, "/manifests/v1") {
				return desc.Manifest // the header still names the real manifest
			}
			return body
		})
		defer reg.setTamper(nil)
		_, err = Pull(context.Background(), repo+":v1", PullOptions{})
		if !errors.Is(err, ErrDigestMismatch) {
			t.Fatalf("Pull = %v, want ErrDigestMismatch", err)
		}
	})
	t.Run("tampered blob", func(t *testing.T) {
		for _, format := range []bool{false, true} {
			ref := repo + ":tamper"
			mustPush(t, dummyWasm("tamper me"), ref, PushOptions{Artifact: format})
			reg.setTamper(func(r *http.Request, body []byte) []byte {
				if strings.Contains(r.URL.Path, "/blobs/") {
					return flipLastByte(body)
				}
				return body
			})
			_, err := Pull(context.Background(), ref, PullOptions{})
			reg.setTamper(nil)
			if !errors.Is(err, ErrDigestMismatch) {
				t.Fatalf("artifact=%v: Pull = %v, want ErrDigestMismatch", format, err)
			}
		}
	})
	t.Run("truncated blob", func(t *testing.T) {
		reg.setTamper(func(r *http.Request, body []byte) []byte {
			if strings.Contains(r.URL.Path, "/blobs/") {
				return body[:len(body)/2]
			}
			return body
		})
		defer reg.setTamper(nil)
		_, err := Pull(context.Background(), repo+"@"+digest, PullOptions{})
		if err == nil {
			t.Fatal("truncated blob accepted")
		}
	})
}

func TestPullCacheAndPolicy(t *testing.T) {
	reg := newTestRegistry(t)
	ctx := context.Background()
	v1w, v2w := dummyWasm("v1"), dummyWasm("v2")
	ref := reg.Host + "/cache:stable"
	d1 := mustPush(t, v1w, ref, PushOptions{})
	cache := t.TempDir()
	pull := func(t *testing.T, ref string, opts PullOptions) (*Module, []string) {
		t.Helper()
		opts.CacheDir = cache
		reg.take()
		m, err := PullModule(ctx, ref, opts)
		if err != nil {
			t.Fatalf("PullModule(%s, %+v): %v", ref, opts, err)
		}
		return m, reg.take()
	}

	m, reqs := pull(t, ref, PullOptions{})
	if m.Cached || !bytes.Equal(m.Wasm, v1w) || countPrefix(reqs, "/blobs/") == 0 {
		t.Fatalf("first pull: cached=%v reqs=%v", m.Cached, reqs)
	}
	m, reqs = pull(t, ref, PullOptions{})
	if !m.Cached || !bytes.Equal(m.Wasm, v1w) || len(reqs) != 0 || m.Format != FormatCompat || m.Digest != d1 {
		t.Fatalf("IfNotPresent tag pull: cached=%v format=%s reqs=%v", m.Cached, m.Format, reqs)
	}
	byDigest := reg.Host + "/cache@" + d1
	if m, reqs = pull(t, byDigest, PullOptions{Policy: "ifnotpresent"}); !m.Cached || len(reqs) != 0 {
		t.Fatalf("IfNotPresent digest pull: cached=%v reqs=%v", m.Cached, reqs)
	}
	if m, reqs = pull(t, ref, PullOptions{Policy: PolicyAlways}); !m.Cached || countPrefix(reqs, "/manifests/") == 0 || countPrefix(reqs, "/blobs/") != 0 {
		t.Fatalf("Always, unchanged tag: cached=%v reqs=%v (want manifest only)", m.Cached, reqs)
	}

	d2 := mustPush(t, v2w, ref, PushOptions{})
	if m, _ = pull(t, ref, PullOptions{}); !bytes.Equal(m.Wasm, v1w) {
		t.Fatal("IfNotPresent went to the registry for a cached tag")
	}
	if m, _ = pull(t, ref, PullOptions{SHA256: sha256Hex(v2w)}); !bytes.Equal(m.Wasm, v2w) || m.Digest != d2 || m.Cached {
		t.Fatalf("a pin the cached tag misses must ask the registry: got %s cached=%v", m.Digest, m.Cached)
	}
	if m, _ = pull(t, ref, PullOptions{Policy: PolicyAlways}); !bytes.Equal(m.Wasm, v2w) {
		t.Fatal("Always did not see the moved tag")
	}
	if _, err := PullModule(ctx, byDigest, PullOptions{CacheDir: cache, SHA256: sha256Hex(v2w)}); !errors.Is(err, ErrSHA256Mismatch) {
		t.Fatalf("cached digest with the wrong pin: %v, want ErrSHA256Mismatch", err)
	}

	t.Run("latest defaults to Always", func(t *testing.T) {
		latest := reg.Host + "/cache:latest"
		mustPush(t, v1w, latest, PushOptions{})
		pull(t, latest, PullOptions{})
		mustPush(t, v2w, latest, PushOptions{})
		if m, _ := pull(t, latest, PullOptions{}); !bytes.Equal(m.Wasm, v2w) {
			t.Fatal(":latest with no policy served a stale module")
		}
		if m, reqs := pull(t, latest, PullOptions{Policy: PolicyIfNotPresent}); !m.Cached || len(reqs) != 0 {
			t.Fatalf("explicit IfNotPresent on :latest: cached=%v reqs=%v", m.Cached, reqs)
		}
	})
	t.Run("corrupt cache is refetched", func(t *testing.T) {
		path := filepath.Join(cache, "wasm", sha256Hex(v1w)+".wasm")
		if err := os.WriteFile(path, dummyWasm("evil"), 0o644); err != nil {
			t.Fatal(err)
		}
		m, reqs := pull(t, byDigest, PullOptions{})
		if m.Cached || !bytes.Equal(m.Wasm, v1w) || countPrefix(reqs, "/blobs/") == 0 {
			t.Fatalf("corrupt cache: cached=%v reqs=%v", m.Cached, reqs)
		}
		if b, _ := os.ReadFile(path); !bytes.Equal(b, v1w) {
			t.Fatal("cache not repaired")
		}
	})
	t.Run("bad policy", func(t *testing.T) {
		if _, err := Pull(ctx, ref, PullOptions{Policy: "Never"}); !errors.Is(err, ErrInvalidOptions) {
			t.Fatalf("Pull = %v, want ErrInvalidOptions", err)
		}
	})
	t.Run("cache dir is a file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "file")
		_ = os.WriteFile(f, nil, 0o600)
		if _, err := Pull(ctx, ref, PullOptions{CacheDir: f}); err == nil {
			t.Fatal("unusable cache dir accepted")
		}
	})
}

func TestPullSizeLimits(t *testing.T) {
	reg := newTestRegistry(t)
	big := dummyWasm(strings.Repeat("a", 4096))
	for _, artifact := range []bool{false, true} {
		ref := reg.Host + "/size:v1"
		mustPush(t, big, ref, PushOptions{Artifact: artifact})
		_, err := Pull(context.Background(), ref, PullOptions{MaxBytes: 1024})
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("artifact=%v: Pull = %v, want ErrTooLarge", artifact, err)
		}
		if _, err := Pull(context.Background(), ref, PullOptions{MaxBytes: int64(len(big))}); err != nil {
			t.Fatalf("artifact=%v: a module exactly at the limit: %v", artifact, err)
		}
	}
	t.Run("gzip bomb", func(t *testing.T) {
		// 8 MiB of zeros compresses to a few KiB; the limit is on what we decompress.
		bomb := tarGz(t, tarEntry{name: "zeros", data: make([]byte, 8<<20)}, tarEntry{name: "plugin.wasm", data: dummyWasm("")})
		ref := reg.Host + "/bomb:v1"
		pushImage(t, ref, types.OCIManifestSchema1, rawLayer{bomb, types.OCILayer})
		if _, err := Pull(context.Background(), ref, PullOptions{MaxBytes: 1 << 20}); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Pull = %v, want ErrTooLarge", err)
		}
	})
}

func TestPlainHTTPOnlyForLoopback(t *testing.T) {
	reg := newTestRegistry(t)
	port := reg.Host[strings.LastIndexByte(reg.Host, ':')+1:]
	wasm := dummyWasm("http")
	for _, tc := range []struct {
		name, host string
		insecure   bool
		want       error
	}{
		{"loopback IPv4", "127.0.0.1", false, nil},
		{"localhost", "localhost", false, nil},
		{"DNS name", "registry.example.test", false, ErrPlainHTTP},
		{"RFC 1918 address", "10.255.0.1", false, ErrPlainHTTP},
		{"mDNS name", "registry.local", false, ErrPlainHTTP},
		{"DNS name, insecure", "registry.example.test", true, nil},
		{"RFC 1918 address, insecure", "10.255.0.1", true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := redirectTransport(reg.Listener.Addr().String())
			ref := tc.host + ":" + port + "/http/" + slug(tc.name) + ":v1"
			_, err := Push(context.Background(), wasm, ref, PushOptions{Insecure: tc.insecure, Transport: tr})
			if !errors.Is(err, tc.want) {
				t.Fatalf("Push = %v, want %v", err, tc.want)
			}
			if tc.want == nil {
				if _, err = Pull(context.Background(), ref, PullOptions{Insecure: tc.insecure, Transport: tr}); err != nil {
					t.Fatalf("Pull: %v", err)
				}
			} else {
				t.Logf("error: %v", err)
				// Pull is refused the same way, even against a registry that has the image.
				if _, err = Pull(context.Background(), reg.Host+"/http/x:v1", PullOptions{}); err == nil {
					t.Fatal("pulled an image that was never pushed")
				}
				_, err = Pull(context.Background(), ref, PullOptions{Transport: tr})
				if !errors.Is(err, ErrPlainHTTP) {
					t.Fatalf("Pull = %v, want ErrPlainHTTP", err)
				}
			}
		})
	}
}

func TestIsLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "localhost": true, "LOCALHOST": true,
		"10.0.0.1": false, "192.168.1.1": false, "0.0.0.0": false, "example.com": false,
		"localhost.example.com": false, "127.0.0.1.nip.io": false, "": false,
	} {
		if got := isLoopbackHost(host); got != want {
			t.Errorf("isLoopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestCredentialsFromDockerConfig(t *testing.T) {
	reg := newTestRegistry(t)
	reg.requireAuth("robot", "s3cret-pass")
	wasm := dummyWasm("auth")
	ref := reg.Host + "/private:v1"

	_, err := Push(context.Background(), wasm, ref, PushOptions{})
	if !errors.Is(err, ErrRegistry) || !strings.Contains(err.Error(), "docker config") {
		t.Fatalf("anonymous Push = %v, want ErrRegistry with a login hint", err)
	}
	writeDockerConfig(t, os.Getenv("DOCKER_CONFIG"), reg.Host, "robot", "wrong")
	if _, err := Push(context.Background(), wasm, ref, PushOptions{}); !errors.Is(err, ErrRegistry) || strings.Contains(err.Error(), "wrong") {
		t.Fatalf("wrong password: %v (must fail and never echo the secret)", err)
	}
	writeDockerConfig(t, os.Getenv("DOCKER_CONFIG"), reg.Host, "robot", "s3cret-pass")
	mustPush(t, wasm, ref, PushOptions{})
	b, err := Pull(context.Background(), ref, PullOptions{})
	if err != nil || !bytes.Equal(b, wasm) {
		t.Fatalf("authenticated Pull = %d bytes, %v", len(b), err)
	}
}

func TestContextCanceled(t *testing.T) {
	reg := newTestRegistry(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Push(ctx, dummyWasm(""), reg.Host+"/c:v1", PushOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Push = %v, want context.Canceled", err)
	}
	if _, err := Pull(ctx, reg.Host+"/c:v1", PullOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Pull = %v, want context.Canceled", err)
	}
}

func TestUnreachableRegistry(t *testing.T) {
	isolateDockerConfig(t)
	reg := newTestRegistry(t)
	host := reg.Host
	reg.Close()
	_, err := Pull(context.Background(), host+"/gone:v1", PullOptions{})
	if !errors.Is(err, ErrRegistry) {
		t.Fatalf("Pull = %v, want ErrRegistry", err)
	}
}

func indentJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	out.WriteByte('\n')
	return out.Bytes()
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with: go test ./oci -run %s -update)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n got: %s\nwant: %s\n(if intended: go test ./oci -run TestPushedFormats -update)", path, got, want)
	}
}

func mustParse(s string) name.Reference {
	r, err := name.ParseReference(s)
	if err != nil {
		panic(err)
	}
	return r
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// slug makes a test name usable as a repository path component.
func slug(s string) string {
	return strings.Trim(strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s), "-")
}
