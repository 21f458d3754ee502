//go:build wasm && gatewarden_fast

package jwt

import (
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	mrand "math/rand/v2"
	"testing"
)

// These tests run only in the spliced wasm test binary (make test builds it with the
// gatewarden_fast tag and runs cmd/wasmsplice on it). TestMont28ExpPaths and the RSA
// differential and fuzz tests of fast_rsa_test.go cover the kernels as well there, since
// exp28 uses them.

// expBoth runs exp with the kernels and with the Go code and checks both against math/big.
func expBoth(t *testing.T, n *big.Int, e int, s *big.Int) {
	t.Helper()
	m := newMontRSA(&rsa.PublicKey{N: n, E: e})
	sig := s.FillBytes(make([]byte, m.size))
	want := new(big.Int).Exp(s, big.NewInt(int64(e)), n).FillBytes(make([]byte, m.size))
	defer func(v bool) { useKernels = v }(useKernels)
	for _, on := range []bool{true, false} {
		useKernels = on
		em := make([]byte, m.size)
		if !m.exp(em, sig) || !bytes.Equal(em, want) {
			t.Fatalf("kernels=%v e=%d n=%x s=%x: got %x want %x", on, e, n, s, em, want)
		}
	}
}

func TestKernelsBuiltIn(t *testing.T) {
	if !kernelsBuiltIn {
		t.Fatal("the gatewarden_fast build does not use the kernels")
	}
}

func TestKernelExp(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(5, 6))
	for _, n := range rsa2048TestModuli(t) {
		for _, e := range []int{1, 2, 3, 17, 65537, 1<<31 - 1} {
			for _, s := range []*big.Int{big.NewInt(0), big.NewInt(1), big.NewInt(2), new(big.Int).Sub(n, big.NewInt(1)),
				new(big.Int).Rsh(n, 1), new(big.Int).Rand(newBigRand(rng), n)} {
				expBoth(t, n, e, s)
			}
		}
	}
}

// FuzzKernelExp: s^e mod n with the kernels equals math/big for fuzzed 2017..2048-bit odd
// moduli, exponents and signatures below n. (Go cannot fuzz under wasm; the seeds run as a
// test, and internal/wasmkern's FuzzMont28 fuzzes the kernels natively in wazero.)
func FuzzKernelExp(f *testing.F) {
	ones := bytes.Repeat([]byte{0xff}, 256)
	f.Add(ones, uint32(65537), bytes.Repeat([]byte{0xfe}, 256))
	f.Add(append([]byte{0x80}, make([]byte, 255)...), uint32(3), []byte{7})
	f.Add(bytes.Repeat([]byte{0x9d}, 253), uint32(2), bytes.Repeat([]byte{0x31}, 200))
	f.Fuzz(func(t *testing.T, nb []byte, e uint32, sb []byte) {
		if len(nb) > 256 {
			nb = nb[:256]
		}
		n := new(big.Int).SetBytes(nb)
		n.SetBit(n, 0, 1)
		if n.BitLen() < 2017 || e == 0 || e > 1<<31-1 {
			return
		}
		s := new(big.Int).SetBytes(sb)
		s.Mod(s, n)
		expBoth(t, n, int(e), s)
	})
}

// TestKernelSha256: sum256 through the kernel and through the Go code agree with
// crypto/sha256 on every length up to several blocks.
func TestKernelSha256(t *testing.T) {
	defer func(v bool) { useKernels = v }(useKernels)
	msg := make([]byte, 700)
	for i := range msg {
		msg[i] = byte(i*131 + 7)
	}
	for n := 0; n <= len(msg); n++ {
		want := sha256.Sum256(msg[:n])
		for _, on := range []bool{true, false} {
			useKernels = on
			if got := sum256(msg[:n]); got != want {
				t.Fatalf("kernels=%v length %d: %x, want %x", on, n, got, want)
			}
		}
	}
}

// TestB64KernelPaths: decodeB64 with and without the SIMD kernel agrees with the standard
// library (strict, no CR/LF) on valid input of every length up to several groups and on a
// bad byte at every position.
func TestB64KernelPaths(t *testing.T) {
	defer func(v bool) { useKernels = v }(useKernels)
	rng := mrand.New(mrand.NewPCG(5, 6))
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for n := 0; n < 150; n++ {
		src := make([]byte, n)
		for i := range src {
			src[i] = alphabet[rng.IntN(64)]
		}
		for pos := -1; pos < n; pos++ {
			in := bytes.Clone(src)
			if pos >= 0 {
				in[pos] = "=+/\n\x00\x80."[rng.IntN(7)]
			}
			want, err := base64.RawURLEncoding.Strict().DecodeString(string(in))
			valid := err == nil && !bytes.ContainsAny(in, "\r\n")
			for _, on := range []bool{true, false} {
				useKernels = on
				got, ok := decodeB64(string(in))
				if ok != valid || ok && !bytes.Equal(got, want) {
					t.Fatalf("kernels=%v %q: ok=%v %x, want ok=%v %x", on, in, ok, got, valid, want)
				}
			}
		}
	}
}
