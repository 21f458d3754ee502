package jwt

import (
	"crypto/sha256"
	"encoding/binary"
	"math/big"
	"math/bits"
	"runtime"
)

// SHA-256 (FIPS 180-4) for the verify path under wasm. Go's generic block function
// keeps the 64-word message schedule in a stack array and loops per round; in Go's
// wasm output that means memory traffic and a block-dispatcher trip per round. Here
// the schedule is a 16-word ring in locals and 16 rounds are unrolled per loop trip.
// Natively crypto/sha256 (SHA-NI/AVX2) is used. Tests compare both on every length
// up to several blocks, and FuzzSHA256 on arbitrary input.

// useFastSHA256 enables sum256 below instead of crypto/sha256.
var useFastSHA256 = runtime.GOARCH == "wasm"

// sha256K and sha256H0 are derived as FIPS 180-4 section 4.2.2 / 5.3.3 define them
// (first 32 bits of the fractional parts of the cube / square roots of the first
// primes), computed exactly with math/big rather than typed in.
var sha256K, sha256H0 = func() (k [64]uint32, h [8]uint32) {
	primes := make([]int64, 0, 64)
	for n := int64(2); len(primes) < 64; n++ {
		if big.NewInt(n).ProbablyPrime(0) {
			primes = append(primes, n)
		}
	}
	for i, p := range primes {
		// floor(cbrt(p) * 2^32) = floor(cbrt(p * 2^96)); keep the low 32 bits.
		k[i] = uint32(icbrt(new(big.Int).Lsh(big.NewInt(p), 96)).Uint64())
		if i < 8 {
			h[i] = uint32(new(big.Int).Sqrt(new(big.Int).Lsh(big.NewInt(p), 64)).Uint64())
		}
	}
	return k, h
}()

// icbrt returns floor(cbrt(x)) for x > 0 (Newton's method on integers).
func icbrt(x *big.Int) *big.Int {
	r := new(big.Int).Lsh(big.NewInt(1), uint(x.BitLen()/3+1)) // r >= cbrt(x)
	three := big.NewInt(3)
	for {
		// next = (2r + x/r^2) / 3
		r2 := new(big.Int).Mul(r, r)
		next := new(big.Int).Quo(x, r2)
		next.Add(next, new(big.Int).Lsh(r, 1))
		next.Quo(next, three)
		if next.Cmp(r) >= 0 {
			return r
		}
		r = next
	}
}

// sum256 returns SHA-256(data).
func sum256(data []byte) [32]byte {
	if !useFastSHA256 {
		return sha256.Sum256(data)
	}
	st := sha256H0
	n := len(data)
	full := n &^ 63
	sha256Blocks(&st, data[:full])
	// Padding: 0x80, zeros, 64-bit big-endian bit length; one or two blocks.
	var tail [128]byte
	r := copy(tail[:], data[full:])
	tail[r] = 0x80
	tl := 64
	if r >= 56 {
		tl = 128
	}
	binary.BigEndian.PutUint64(tail[tl-8:tl], uint64(n)<<3)
	sha256Blocks(&st, tail[:tl])
	var out [32]byte
	for i, v := range st {
		binary.BigEndian.PutUint32(out[4*i:], v)
	}
	return out
}

// sha256BlocksGo runs the compression function over len(p)/64 blocks (sha256Blocks, in
// fast_kern_*.go, calls it or the spliced wasm kernel).
func sha256BlocksGo(st *[8]uint32, p []byte) {
	for ; len(p) >= 64; p = p[64:] {
		w0 := uint32(p[0])<<24 | uint32(p[1])<<16 | uint32(p[2])<<8 | uint32(p[3])
		w1 := uint32(p[4])<<24 | uint32(p[5])<<16 | uint32(p[6])<<8 | uint32(p[7])
		w2 := uint32(p[8])<<24 | uint32(p[9])<<16 | uint32(p[10])<<8 | uint32(p[11])
		w3 := uint32(p[12])<<24 | uint32(p[13])<<16 | uint32(p[14])<<8 | uint32(p[15])
		w4 := uint32(p[16])<<24 | uint32(p[17])<<16 | uint32(p[18])<<8 | uint32(p[19])
		w5 := uint32(p[20])<<24 | uint32(p[21])<<16 | uint32(p[22])<<8 | uint32(p[23])
		w6 := uint32(p[24])<<24 | uint32(p[25])<<16 | uint32(p[26])<<8 | uint32(p[27])
		w7 := uint32(p[28])<<24 | uint32(p[29])<<16 | uint32(p[30])<<8 | uint32(p[31])
		w8 := uint32(p[32])<<24 | uint32(p[33])<<16 | uint32(p[34])<<8 | uint32(p[35])
		w9 := uint32(p[36])<<24 | uint32(p[37])<<16 | uint32(p[38])<<8 | uint32(p[39])
		w10 := uint32(p[40])<<24 | uint32(p[41])<<16 | uint32(p[42])<<8 | uint32(p[43])
		w11 := uint32(p[44])<<24 | uint32(p[45])<<16 | uint32(p[46])<<8 | uint32(p[47])
		w12 := uint32(p[48])<<24 | uint32(p[49])<<16 | uint32(p[50])<<8 | uint32(p[51])
		w13 := uint32(p[52])<<24 | uint32(p[53])<<16 | uint32(p[54])<<8 | uint32(p[55])
		w14 := uint32(p[56])<<24 | uint32(p[57])<<16 | uint32(p[58])<<8 | uint32(p[59])
		w15 := uint32(p[60])<<24 | uint32(p[61])<<16 | uint32(p[62])<<8 | uint32(p[63])
		a, b, c, d, e, f, g, h := st[0], st[1], st[2], st[3], st[4], st[5], st[6], st[7]
		var t1, t2 uint32
		for r := 0; r < 64; r += 16 {
			if r > 0 {
				w0 += (bits.RotateLeft32(w14, -17) ^ bits.RotateLeft32(w14, -19) ^ w14>>10) + w9 + (bits.RotateLeft32(w1, -7) ^ bits.RotateLeft32(w1, -18) ^ w1>>3)
				w1 += (bits.RotateLeft32(w15, -17) ^ bits.RotateLeft32(w15, -19) ^ w15>>10) + w10 + (bits.RotateLeft32(w2, -7) ^ bits.RotateLeft32(w2, -18) ^ w2>>3)
				w2 += (bits.RotateLeft32(w0, -17) ^ bits.RotateLeft32(w0, -19) ^ w0>>10) + w11 + (bits.RotateLeft32(w3, -7) ^ bits.RotateLeft32(w3, -18) ^ w3>>3)
				w3 += (bits.RotateLeft32(w1, -17) ^ bits.RotateLeft32(w1, -19) ^ w1>>10) + w12 + (bits.RotateLeft32(w4, -7) ^ bits.RotateLeft32(w4, -18) ^ w4>>3)
				w4 += (bits.RotateLeft32(w2, -17) ^ bits.RotateLeft32(w2, -19) ^ w2>>10) + w13 + (bits.RotateLeft32(w5, -7) ^ bits.RotateLeft32(w5, -18) ^ w5>>3)
				w5 += (bits.RotateLeft32(w3, -17) ^ bits.RotateLeft32(w3, -19) ^ w3>>10) + w14 + (bits.RotateLeft32(w6, -7) ^ bits.RotateLeft32(w6, -18) ^ w6>>3)
				w6 += (bits.RotateLeft32(w4, -17) ^ bits.RotateLeft32(w4, -19) ^ w4>>10) + w15 + (bits.RotateLeft32(w7, -7) ^ bits.RotateLeft32(w7, -18) ^ w7>>3)
				w7 += (bits.RotateLeft32(w5, -17) ^ bits.RotateLeft32(w5, -19) ^ w5>>10) + w0 + (bits.RotateLeft32(w8, -7) ^ bits.RotateLeft32(w8, -18) ^ w8>>3)
				w8 += (bits.RotateLeft32(w6, -17) ^ bits.RotateLeft32(w6, -19) ^ w6>>10) + w1 + (bits.RotateLeft32(w9, -7) ^ bits.RotateLeft32(w9, -18) ^ w9>>3)
				w9 += (bits.RotateLeft32(w7, -17) ^ bits.RotateLeft32(w7, -19) ^ w7>>10) + w2 + (bits.RotateLeft32(w10, -7) ^ bits.RotateLeft32(w10, -18) ^ w10>>3)
				w10 += (bits.RotateLeft32(w8, -17) ^ bits.RotateLeft32(w8, -19) ^ w8>>10) + w3 + (bits.RotateLeft32(w11, -7) ^ bits.RotateLeft32(w11, -18) ^ w11>>3)
				w11 += (bits.RotateLeft32(w9, -17) ^ bits.RotateLeft32(w9, -19) ^ w9>>10) + w4 + (bits.RotateLeft32(w12, -7) ^ bits.RotateLeft32(w12, -18) ^ w12>>3)
				w12 += (bits.RotateLeft32(w10, -17) ^ bits.RotateLeft32(w10, -19) ^ w10>>10) + w5 + (bits.RotateLeft32(w13, -7) ^ bits.RotateLeft32(w13, -18) ^ w13>>3)
				w13 += (bits.RotateLeft32(w11, -17) ^ bits.RotateLeft32(w11, -19) ^ w11>>10) + w6 + (bits.RotateLeft32(w14, -7) ^ bits.RotateLeft32(w14, -18) ^ w14>>3)
				w14 += (bits.RotateLeft32(w12, -17) ^ bits.RotateLeft32(w12, -19) ^ w12>>10) + w7 + (bits.RotateLeft32(w15, -7) ^ bits.RotateLeft32(w15, -18) ^ w15>>3)
				w15 += (bits.RotateLeft32(w13, -17) ^ bits.RotateLeft32(w13, -19) ^ w13>>10) + w8 + (bits.RotateLeft32(w0, -7) ^ bits.RotateLeft32(w0, -18) ^ w0>>3)
			}
			k := sha256K[r : r+16 : r+16]
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[0] + w0
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[1] + w1
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[2] + w2
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[3] + w3
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[4] + w4
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[5] + w5
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[6] + w6
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[7] + w7
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[8] + w8
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[9] + w9
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[10] + w10
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[11] + w11
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[12] + w12
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[13] + w13
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[14] + w14
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
			t1 = h + (bits.RotateLeft32(e, -6) ^ bits.RotateLeft32(e, -11) ^ bits.RotateLeft32(e, -25)) + ((e & f) ^ (^e & g)) + k[15] + w15
			t2 = (bits.RotateLeft32(a, -2) ^ bits.RotateLeft32(a, -13) ^ bits.RotateLeft32(a, -22)) + ((a & b) ^ (a & c) ^ (b & c))
			h, g, f, e, d, c, b, a = g, f, e, d+t1, c, b, a, t1+t2
		}
		st[0] += a
		st[1] += b
		st[2] += c
		st[3] += d
		st[4] += e
		st[5] += f
		st[6] += g
		st[7] += h
	}
}
