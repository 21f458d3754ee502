package oci

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// FuzzWasmFromTarGz feeds hostile layer bytes to the compat extractor: it must never
// panic, never return more than the limit, and only fail with our sentinels.
//
//	go test ./oci -run '^$' -fuzz FuzzWasmFromTarGz -fuzztime 60s
func FuzzWasmFromTarGz(f *testing.F) {
	wasm := dummyWasm("fuzz")
	f.Add(tarGz(f, tarEntry{name: "plugin.wasm", data: wasm}))
	f.Add(tarGz(f, tarEntry{name: "a/b/plugin.wasm", data: wasm}, tarEntry{name: "plugin.wasm", data: []byte("second")}))
	f.Add(tarGz(f, tarEntry{name: "zeros", data: make([]byte, 300<<10)}, tarEntry{name: "plugin.wasm", data: wasm}))
	f.Add(tarGz(f, tarEntry{name: "plugin.wasm", typ: '2', data: []byte("/etc/passwd")}))
	gz, _ := gzipBytes([]byte("not a tar"))
	f.Add(gz)
	f.Add([]byte{0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff})
	f.Add([]byte{})
	const limit = 256 << 10
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := wasmFromTarGz(data, limit)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if int64(len(got)) > limit {
			t.Fatalf("returned %d bytes over the %d limit", len(got), limit)
		}
	})
}

// FuzzCompatRoundTrip: whatever module bytes we pack, the extractor returns them intact.
func FuzzCompatRoundTrip(f *testing.F) {
	f.Add(dummyWasm(""))
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xff}, 1000))
	f.Fuzz(func(t *testing.T, wasm []byte) {
		tb, err := compatTar(wasm)
		if err != nil {
			t.Fatal(err)
		}
		gz, err := gzipBytes(tb)
		if err != nil {
			t.Fatal(err)
		}
		got, err := wasmFromTarGz(gz, int64(len(wasm))+1)
		if err != nil || !bytes.Equal(got, wasm) {
			t.Fatalf("round trip of %d bytes: got %d bytes, %v", len(wasm), len(got), err)
		}
	})
}

// FuzzExtractWasm feeds hostile manifests (with blobs that match whatever they name) to
// the format detection.
//
//	go test ./oci -run '^$' -fuzz FuzzExtractWasm -fuzztime 60s
func FuzzExtractWasm(f *testing.F) {
	for _, artifact := range []bool{false, true} {
		img, err := buildImage(dummyWasm("seed"), artifact)
		if err != nil {
			f.Fatal(err)
		}
		m, _ := img.RawManifest()
		f.Add(m, string(types.OCIManifestSchema1))
	}
	f.Add([]byte(`{"schemaVersion":2,"layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":-1,"digest":"sha256:00"}]}`), string(types.DockerManifestSchema2))
	f.Add([]byte(`{"layers":null}`), string(types.OCIImageIndex))
	f.Add([]byte(`[]`), "")
	blob := tarGz(f, tarEntry{name: "plugin.wasm", data: dummyWasm("blob")})
	f.Fuzz(func(t *testing.T, manifest []byte, mt string) {
		fetch := func(d v1.Descriptor, limit int64) ([]byte, error) {
			if d.Size > limit {
				return nil, ErrTooLarge
			}
			if d.MediaType == MediaTypeWasmContent {
				return dummyWasm("raw"), nil
			}
			return blob, nil
		}
		got, format, err := extractWasm(types.MediaType(mt), manifest, fetch, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedFormat) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if len(got) == 0 || format == "" {
			t.Fatalf("success without a module: %q %q", got, format)
		}
		var probe map[string]any
		if json.Unmarshal(manifest, &probe) != nil {
			t.Fatalf("accepted a manifest that is not a JSON object: %q", manifest)
		}
	})
}
