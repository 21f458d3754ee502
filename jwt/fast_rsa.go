package jwt

import (
	"crypto"
	"crypto/rsa"
	"math/big"
	"sync"
)

// montRSA is an RSA public-key operation with Montgomery multiplication on 32-bit
// limbs, precomputed per key. Go's crypto/rsa uses 64-bit limbs and bits.Mul64,
// which the wasm backend has to emulate with four 32x32 multiplications; 32-bit
// limbs with 64-bit accumulators map straight onto wasm's i64.mul. Natively the
// stdlib (with assembly) is faster, so this path is only enabled under wasm (see
// useFastRSA); tests enable it natively to compare it against crypto/rsa.
// Moduli of 2017 to 2048 bits take the faster 28-bit-limb path instead (exp28,
// fast_rsa28.go); other sizes use the 32-bit limbs.
type montRSA struct {
	n     []uint32 // modulus, little-endian limbs
	rr    []uint32 // R^2 mod n, R = 2^(32*len(n))
	n0inv uint32   // -n^-1 mod 2^32
	e     uint32
	size  int     // modulus size in bytes
	bits  int     // modulus size in bits
	m28   *mont28 // 2048-bit moduli: the 28-bit-limb path (see exp28)
}

const maxRSALimbs = maxRSABits / 32

// rsaScratch is per-call working memory. It lives on the heap (pooled) on purpose:
// Go's wasm code addresses stack arrays through the SP global, which costs several
// instructions per access; a heap pointer in a local is cheaper.
type rsaScratch struct {
	t         [maxRSALimbs + 2]uint32
	sq        [2*rsa2048Limbs + 1]uint32
	s, x, acc [maxRSALimbs]uint32
	buf       [4 * maxRSALimbs]byte
	// 28-bit-limb path (exp28): operands and the Montgomery quotient limbs.
	s28, x28, acc28, q28 pad28
}

var scratchPool = sync.Pool{New: func() any { return new(rsaScratch) }}

func newMontRSA(pub *rsa.PublicKey) *montRSA {
	bits := pub.N.BitLen()
	if bits > maxRSABits || pub.E <= 0 || pub.E > 1<<31-1 || pub.N.Bit(0) == 0 {
		return nil
	}
	s := (bits + 31) / 32
	m := &montRSA{n: make([]uint32, s), rr: make([]uint32, s), e: uint32(pub.E), size: (bits + 7) / 8, bits: bits}
	bytesToLimbs(m.n, pub.N.FillBytes(make([]byte, 4*s)))
	r2 := new(big.Int).Lsh(big.NewInt(1), uint(64*s))
	r2.Mod(r2, pub.N)
	bytesToLimbs(m.rr, r2.FillBytes(make([]byte, 4*s)))
	// Newton iteration for n[0]^-1 mod 2^32 (n is odd): each step doubles the bits.
	inv := m.n[0]
	for i := 0; i < 5; i++ {
		inv *= 2 - m.n[0]*inv
	}
	m.n0inv = -inv
	if s == rsa2048Limbs && littleEndian {
		m.m28 = newMont28(pub.N, m.n)
	}
	return m
}

// bytesToLimbs converts big-endian b (len 4*len(z)) to little-endian 32-bit limbs.
func bytesToLimbs(z []uint32, b []byte) {
	s := len(z)
	for i := 0; i < s; i++ {
		o := len(b) - 4*(i+1)
		z[i] = uint32(b[o])<<24 | uint32(b[o+1])<<16 | uint32(b[o+2])<<8 | uint32(b[o+3])
	}
}

// lessThan reports x < y for equal-length limb slices.
func lessThan(x, y []uint32) bool {
	for i := len(x) - 1; i >= 0; i-- {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}

// reduceOnce takes t (len(n)+1 limbs, t < 2n) below n: it subtracts n once if t >= n.
func reduceOnce(t, n []uint32) {
	s := len(n)
	if t[s] == 0 && lessThan(t[:s], n) {
		return
	}
	var borrow uint64
	for j := 0; j < s; j++ {
		d := uint64(t[j]) - uint64(n[j]) - borrow
		t[j] = uint32(d)
		borrow = (d >> 32) & 1
	}
}

// montMul sets z = x*y/R mod n (fully reduced) for x, y < n. z may alias x or y.
// It interleaves multiplication and reduction (FIOS) with 64-bit accumulators.
func (m *montRSA) montMul(z, x, y []uint32, sc *rsaScratch) {
	if len(m.n) == rsa2048Limbs {
		montMul2048((*limbs2048)(z), (*limbs2048)(x), (*limbs2048)(y), (*limbs2048)(m.n), m.n0inv, (*[rsa2048Limbs + 1]uint32)(sc.t[:rsa2048Limbs+1]))
		return
	}
	n := m.n
	s := len(n)
	t := sc.t[:s+1]
	clear(t)
	x = x[:s]
	y = y[:s]
	n0inv := m.n0inv
	for i := 0; i < s; i++ {
		yi := uint64(y[i])
		uv := uint64(t[0]) + uint64(x[0])*yi
		c1 := uv >> 32
		lo := uint32(uv)
		q := lo * n0inv
		uv2 := uint64(lo) + uint64(q)*uint64(n[0])
		c2 := uv2 >> 32
		qq := uint64(q)
		for j := 1; j < s; j++ {
			uv = uint64(t[j]) + uint64(x[j])*yi + c1
			c1 = uv >> 32
			uv2 = uint64(uint32(uv)) + qq*uint64(n[j]) + c2
			c2 = uv2 >> 32
			t[j-1] = uint32(uv2)
		}
		uv = uint64(t[s]) + c1 + c2
		t[s-1] = uint32(uv)
		t[s] = uint32(uv >> 32)
	}
	reduceOnce(t[:s+1], n) // t < 2n
	copy(z[:s], t[:s])
}

// montMul2048 and montSqr2048 (RSA-2048) and p256MulMont are generated into
// fast_gen_mul.go, fully unrolled.
//go:generate go run fast_gen.go
//go:generate go run fast_gen_lazy.go

// montSqr sets z = x*x/R mod n; z may alias x.
func (m *montRSA) montSqr(z, x []uint32, sc *rsaScratch) {
	if len(m.n) == rsa2048Limbs && useFastSqr {
		montSqr2048((*limbs2048)(z), (*limbs2048)(x), (*limbs2048)(m.n), m.n0inv, &sc.sq)
		return
	}
	m.montMul(z, x, x, sc)
}

// useFastSqr selects montSqr2048 for squarings (tests and benchmarks compare it
// with montMul2048).
var useFastSqr = true

// exp computes sig^e mod n into em (big-endian, m.size bytes). It returns false
// when sig >= n (such a signature is invalid).
func (m *montRSA) exp(em, sig []byte) bool {
	sc := scratchPool.Get().(*rsaScratch)
	defer scratchPool.Put(sc)
	s := len(m.n)
	sv, x, acc := sc.s[:s], sc.x[:s], sc.acc[:s]
	buf := sc.buf[:4*s]
	clear(buf)
	copy(buf[4*s-len(sig):], sig)
	bytesToLimbs(sv, buf)
	if !lessThan(sv, m.n) {
		return false
	}
	if m.m28 != nil && useMont28 {
		m.exp28(acc, sv, sc)
		m.limbsToEM(em, acc, buf)
		return true
	}
	m.montMul(x, sv, m.rr, sc) // x = sig*R (Montgomery form)
	copy(acc, x)
	e := m.e
	top := 31
	for e>>uint(top)&1 == 0 {
		top--
	}
	// Left-to-right square-and-multiply over the bits top-1 .. 1 in Montgomery
	// form, then the last square and a multiplication by the plain sig (or plain 1),
	// which leaves Montgomery form for free: (a*R)*sig/R = a*sig. For e = 65537 that
	// is 1 + 16 squarings + 1 multiplication = 18 Montgomery products.
	if top == 0 { // e == 1
		copy(acc, sv)
	} else {
		for i := top - 1; i >= 1; i-- {
			m.montSqr(acc, acc, sc)
			if e>>uint(i)&1 == 1 {
				m.montMul(acc, acc, x, sc)
			}
		}
		m.montSqr(acc, acc, sc)
		if e&1 == 1 {
			m.montMul(acc, acc, sv, sc)
		} else {
			clear(x)
			x[0] = 1
			m.montMul(acc, acc, x, sc)
		}
	}
	m.limbsToEM(em, acc, buf)
	return true
}

// limbsToEM writes the limbs acc big-endian into em (m.size bytes), through buf.
func (m *montRSA) limbsToEM(em []byte, acc []uint32, buf []byte) {
	s := len(acc)
	for i := 0; i < s; i++ {
		o := 4*s - 4*(i+1)
		v := acc[i]
		buf[o], buf[o+1], buf[o+2], buf[o+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	copy(em, buf[4*s-m.size:])
}

// useMont28 selects exp28 for 2048-bit moduli (tests compare both paths).
var useMont28 = true

// DigestInfo prefixes for EMSA-PKCS1-v1_5 (RFC 8017 section 9.2, note 1).
var (
	prefixSHA256 = []byte{0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20}
	prefixSHA384 = []byte{0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30}
	prefixSHA512 = []byte{0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40}
)

// verifyPKCS1v15 checks an RSASSA-PKCS1-v1_5 signature over digest, with the same
// acceptance as rsa.VerifyPKCS1v15: EM must equal 00 01 FF..FF 00 DigestInfo hash.
func (m *montRSA) verifyPKCS1v15(h crypto.Hash, digest, sig []byte) bool {
	var prefix []byte
	switch h {
	case crypto.SHA256:
		prefix = prefixSHA256
	case crypto.SHA384:
		prefix = prefixSHA384
	case crypto.SHA512:
		prefix = prefixSHA512
	default:
		return false
	}
	k := m.size
	tLen := len(prefix) + len(digest)
	if len(sig) != k || len(digest) != h.Size() || k < tLen+11 {
		return false
	}
	var emBuf [maxRSABits / 8]byte
	em := emBuf[:k]
	if !m.exp(em, sig) {
		return false
	}
	ok := em[0] == 0 && em[1] == 1
	for i := 2; i < k-tLen-1; i++ {
		ok = ok && em[i] == 0xff
	}
	ok = ok && em[k-tLen-1] == 0
	ok = ok && string(em[k-tLen:k-len(digest)]) == string(prefix)
	ok = ok && string(em[k-len(digest):]) == string(digest)
	return ok
}

// rsa2048Limbs is the limb count of the common 2048-bit modulus; montMul2048 is
// montMul specialised to it so the compiler can drop bounds checks (they cost as
// much as the arithmetic in wasm).
const rsa2048Limbs = 64

type limbs2048 = [rsa2048Limbs]uint32

// verifyPSS checks an RSASSA-PSS signature (RFC 8017 section 9.1.2, MGF1 with the
// same hash, salt length = hash length as RFC 7518 section 3.5 requires), with the
// same acceptance as rsa.VerifyPSS with PSSSaltLengthEqualsHash.
func (m *montRSA) verifyPSS(h crypto.Hash, digest, sig []byte) bool {
	if h != crypto.SHA256 && h != crypto.SHA384 && h != crypto.SHA512 {
		return false
	}
	hLen, sLen := h.Size(), h.Size()
	k := m.size
	if len(sig) != k || len(digest) != hLen {
		return false
	}
	var emBuf [maxRSABits / 8]byte
	em := emBuf[:k]
	if !m.exp(em, sig) {
		return false
	}
	emBits := m.bits - 1
	emLen := (emBits + 7) / 8
	if emLen < k {
		if em[0] != 0 {
			return false
		}
		em = em[k-emLen:]
	}
	if emLen < hLen+sLen+2 || em[emLen-1] != 0xbc {
		return false
	}
	dbLen := emLen - hLen - 1
	db, hh := em[:dbLen], em[dbLen:emLen-1]
	topMask := byte(0xff >> (8*emLen - emBits))
	if db[0]&^topMask != 0 {
		return false
	}
	// DB = maskedDB xor MGF1(H, dbLen), in place.
	var counter [4]byte
	var block [64]byte
	for done := 0; done < dbLen; {
		hf := h.New()
		hf.Write(hh)
		hf.Write(counter[:])
		out := hf.Sum(block[:0])
		for i := 0; i < len(out) && done < dbLen; i++ {
			db[done] ^= out[i]
			done++
		}
		for i := 3; i >= 0; i-- {
			counter[i]++
			if counter[i] != 0 {
				break
			}
		}
	}
	db[0] &= topMask
	ps := dbLen - sLen - 1
	for _, b := range db[:ps] {
		if b != 0 {
			return false
		}
	}
	if db[ps] != 1 {
		return false
	}
	hf := h.New()
	var zeros [8]byte
	hf.Write(zeros[:])
	hf.Write(digest)
	hf.Write(db[dbLen-sLen:])
	return string(hf.Sum(block[:0])) == string(hh)
}
