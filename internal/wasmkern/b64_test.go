package wasmkern

import (
	"bytes"
	"context"
	"encoding/base64"
	mrand "math/rand/v2"
	"testing"
)

// b64Decode runs b64url_decode on src placed at srcAddr, output at dstAddr, and returns its result
// and the bytes of the whole groups; it fails the test if a byte past them was written.
func (h *harness) b64Decode(src []byte, srcAddr, dstAddr uint32) (bool, []byte) {
	h.t.Helper()
	outLen := uint32(len(src) / 16 * 12)
	guardLen := min(uint32(64), memBytes-dstAddr-outLen)
	guard := bytes.Repeat([]byte{0xa5}, int(outLen+guardLen))
	if !h.mem.Write(dstAddr, guard) || !h.mem.Write(srcAddr, src) {
		h.t.Fatal("buffers do not fit the kernel module's memory")
	}
	res, err := h.b64.Call(context.Background(), uint64(dstAddr), uint64(srcAddr), uint64(len(src)))
	if err != nil {
		h.t.Fatal(err)
	}
	out, _ := h.mem.Read(dstAddr, outLen+guardLen)
	if !bytes.Equal(out[outLen:], guard[outLen:]) {
		h.t.Fatalf("len %d: wrote past the %d output bytes", len(src), outLen)
	}
	return res[0] == 1, bytes.Clone(out[:outLen])
}

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestB64URLDecode(t *testing.T) {
	h := newHarness(t)
	rng := mrand.New(mrand.NewPCG(3, 4))
	for n := 0; n <= 200; n++ {
		src := make([]byte, n)
		for i := range src {
			src[i] = b64Alphabet[rng.IntN(64)]
		}
		ok, got := h.b64Decode(src, 0x1000, 0x8000)
		want, err := base64.RawURLEncoding.DecodeString(string(src[:n/16*16]))
		if !ok || err != nil || !bytes.Equal(got, want) {
			t.Fatalf("len %d: ok=%v %x, want %x (%v)", n, ok, got, want, err)
		}
	}
	// Every byte outside the alphabet, at every position of two groups, is refused.
	for c := 0; c < 256; c++ {
		if bytes.IndexByte([]byte(b64Alphabet), byte(c)) >= 0 {
			continue
		}
		for pos := 0; pos < 32; pos++ {
			src := []byte(b64Alphabet[pos : pos+32])
			src[pos] = byte(c)
			if ok, _ := h.b64Decode(src, 0x1000, 0x8000); ok {
				t.Fatalf("byte %#x at %d accepted", c, pos)
			}
		}
	}
	// Every character of the alphabet in every lane.
	for i := 0; i < 64; i++ {
		src := bytes.Repeat([]byte{b64Alphabet[i]}, 16)
		_, got := h.b64Decode(src, 0x1000, 0x8000)
		if want, _ := base64.RawURLEncoding.DecodeString(string(src)); !bytes.Equal(got, want) {
			t.Fatalf("%q: %x, want %x", src, got, want)
		}
	}
}

// TestB64URLDecodeBounds puts input and output flush against the end of linear memory: the
// kernel reads exactly the whole groups and writes exactly 12 bytes per group (a byte more
// would trap), and one group more than memory holds traps instead of reading past it.
func TestB64URLDecodeBounds(t *testing.T) {
	h := newHarness(t)
	src := []byte(b64Alphabet + b64Alphabet[:20]) // 84 characters: 5 groups and 4 left over
	want, _ := base64.RawURLEncoding.DecodeString(string(src[:80]))
	for _, at := range []struct{ src, dst uint32 }{{memBytes - uint32(len(src)), 0x1000}, {0x1000, memBytes - 60}} {
		ok, got := h.b64Decode(src, at.src, at.dst)
		if !ok || !bytes.Equal(got, want) {
			t.Fatalf("src at %#x, dst at %#x: ok=%v %x, want %x", at.src, at.dst, ok, got, want)
		}
	}
	// Valid characters up to the end, so the kernel gets as far as the fifth group.
	h.mem.Write(memBytes-64, src[:64])
	h.mem.Write(0x1000, src[:80])
	if _, err := h.b64.Call(context.Background(), 0x8000, memBytes-64, 80); err == nil {
		t.Fatal("reading a group past the end of memory did not trap")
	}
	if _, err := h.b64.Call(context.Background(), memBytes-56, 0x1000, 80); err == nil {
		t.Fatal("writing a group past the end of memory did not trap")
	}
}

func FuzzB64URLDecode(f *testing.F) {
	f.Add([]byte("eyJhbGciOiJSUzI1NiJ9eyJhbGciOiJSUzI1NiJ9"))
	f.Add([]byte("ABCDEFGHIJKLMNO="))
	f.Add([]byte("ABCDEFGHIJKLMN\r\n"))
	h := newHarness(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		if len(src) > 20000 {
			return
		}
		h.t = t
		ok, got := h.b64Decode(src, 0x100, 0x6000)
		whole := src[:len(src)/16*16]
		want, err := base64.RawURLEncoding.Strict().DecodeString(string(whole))
		valid := err == nil && !bytes.ContainsAny(whole, "\r\n") // the stdlib skips CR and LF
		if ok != valid || ok && !bytes.Equal(got, want) {
			t.Fatalf("%q: kernel ok=%v %x; stdlib %x, %v", whole, ok, got, want, err)
		}
	})
}

// BenchmarkB64URLDecode: the kernel under wazero on 1024 characters (compare jwt's
// BenchmarkParts/b64payload, the Go decoder in wasm).
func BenchmarkB64URLDecode(b *testing.B) {
	h := newHarness(b)
	src := bytes.Repeat([]byte("eyJhbGciOiJSUzI1"), 64)
	h.mem.Write(0x1000, src)
	stack := make([]uint64, 3)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		stack[0], stack[1], stack[2] = 0x8000, 0x1000, uint64(len(src))
		if err := h.b64.CallWithStack(context.Background(), stack); err != nil || stack[0] != 1 {
			b.Fatal(err, stack[0])
		}
	}
}
