package jwt

import (
	"bytes"
	"crypto/sha256"
	"testing"
)

func TestSum256(t *testing.T) {
	old := useFastSHA256
	useFastSHA256 = true
	defer func() { useFastSHA256 = old }()
	buf := make([]byte, 300)
	for i := range buf {
		buf[i] = byte(i*7 + 3)
	}
	for n := 0; n <= len(buf); n++ {
		if got, want := sum256(buf[:n]), sha256.Sum256(buf[:n]); got != want {
			t.Fatalf("len %d: %x, want %x", n, got, want)
		}
	}
	// FIPS 180-4 example "abc".
	want := []byte{0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad}
	if got := sum256([]byte("abc")); !bytes.Equal(got[:], want) {
		t.Fatalf("abc: %x", got)
	}
}

func FuzzSHA256(f *testing.F) {
	f.Add([]byte("abc"))
	f.Add(bytes.Repeat([]byte{0xff}, 119))
	f.Fuzz(func(t *testing.T, data []byte) {
		old := useFastSHA256
		useFastSHA256 = true
		defer func() { useFastSHA256 = old }()
		if sum256(data) != sha256.Sum256(data) {
			t.Fatalf("mismatch for %x", data)
		}
	})
}

func BenchmarkSum256(b *testing.B) {
	g, _, _ := loadGolden(b)
	p, _ := parseCompact(g.Cases[0].Token, DefaultMaxHeaderBytes)
	in := bytesOf(p.input)
	b.Run("stdlib", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			sha256.Sum256(in)
		}
	})
	b.Run("unrolled", func(b *testing.B) {
		old := useFastSHA256
		useFastSHA256 = true
		defer func() { useFastSHA256 = old }()
		b.SetBytes(int64(len(in)))
		for b.Loop() {
			sum256(in)
		}
	})
}
