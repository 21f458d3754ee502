package oci

import (
	"context"
	"os"
	"testing"
)

// benchModule is the real filter when built (make wasm), else a 5 MiB synthetic module.
func benchModule(b *testing.B) []byte {
	b.Helper()
	if w, err := os.ReadFile("../build/gatewarden.wasm"); err == nil && checkWasm(w, DefaultMaxBytes) == nil {
		return w
	}
	payload := make([]byte, 5<<20)
	for i := range payload {
		payload[i] = byte(i * 7 % 251)
	}
	return dummyWasm(string(payload))
}

// go test ./oci -run '^$' -bench . -benchmem
func BenchmarkBuildImage(b *testing.B) {
	w := benchModule(b)
	for _, artifact := range []bool{false, true} {
		b.Run(map[bool]string{false: "compat", true: "artifact"}[artifact], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(w)))
			for b.Loop() {
				if _, err := buildImage(w, artifact); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPull(b *testing.B) {
	w := benchModule(b)
	reg := newTestRegistry(b)
	for _, artifact := range []bool{false, true} {
		ref := reg.Host + "/bench:" + map[bool]string{false: "compat", true: "artifact"}[artifact]
		if _, err := Push(context.Background(), w, ref, PushOptions{Artifact: artifact}); err != nil {
			b.Fatal(err)
		}
		b.Run(map[bool]string{false: "compat", true: "artifact"}[artifact]+"/registry", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(w)))
			for b.Loop() {
				if _, err := Pull(context.Background(), ref, PullOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		cache := b.TempDir()
		b.Run(map[bool]string{false: "compat", true: "artifact"}[artifact]+"/cache-IfNotPresent", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(w)))
			for b.Loop() {
				if _, err := Pull(context.Background(), ref, PullOptions{CacheDir: cache}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
