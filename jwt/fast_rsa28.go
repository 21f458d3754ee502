package jwt

import (
	"math/big"
	"unsafe"
)

// RSA-2048 on 28-bit limbs with lazy carries (see fast_gen_lazy.go for the method
// and why it is faster in wasm than the 32-bit limbs of montMul2048).

// The limb count rsa28Limbs (in fast_lazy_mul.go) makes R = 2^(28*rsa28Limbs) > 4n
// for every modulus below 2^2048, which keeps every Montgomery product below 2n
// without a conditional subtraction (see mont28Mul2048); exp28 subtracts once at
// the end.

// littleEndian reports whether memory is little-endian. The inner loops read two
// uint32 limbs as one uint64, which needs it; wasm always is, and so are the
// machines the tests run on natively.
var littleEndian = func() bool {
	x := [2]byte{1, 0}
	return *(*uint16)(unsafe.Pointer(&x)) == 1
}()

// mont28 is the per-key data of the 28-bit path.
type mont28 struct {
	n, rr pad28  // modulus and R^2 mod n
	n0inv uint64 // -n^-1 mod 2^28
	k     kern28 // the same for the spliced wasm kernels (fast_kern_spliced.go), if built in
}

// newMont28 precomputes the 28-bit form of a modulus n below 2^2048 (odd; n32 is n
// as 64 little-endian 32-bit limbs), R^2 mod n and -n^-1 mod 2^28.
func newMont28(n *big.Int, n32 []uint32) *mont28 {
	m := new(mont28)
	limbs32To28(&m.n, n32)
	r2 := new(big.Int).Lsh(big.NewInt(1), 2*28*rsa28Limbs)
	r2.Mod(r2, n)
	rr := make([]uint32, rsa2048Limbs)
	bytesToLimbs(rr, r2.FillBytes(make([]byte, 4*rsa2048Limbs)))
	limbs32To28(&m.rr, rr)
	inv := uint64(n32[0]) // Newton iteration for n^-1 mod 2^32, as in newMontRSA
	for i := 0; i < 5; i++ {
		inv = (inv * (2 - uint64(n32[0])*inv)) & 0xffffffff
	}
	m.n0inv = -inv & (1<<28 - 1)
	m.k.init(m)
	return m
}

// limbs32To28 converts 64 little-endian 32-bit limbs to 74 28-bit limbs.
func limbs32To28(p *pad28, x []uint32) {
	repackLimbs(p[rsa28Pad:rsa28Pad+rsa28Limbs], 28, x[:rsa2048Limbs], 32)
}

// limbs28To32 converts 74 28-bit limbs to 65 little-endian 32-bit limbs.
func limbs28To32(z []uint32, p *pad28) {
	repackLimbs(z[:rsa2048Limbs+1], 32, p[rsa28Pad:rsa28Pad+rsa28Limbs], 28)
}

// repackLimbs converts the little-endian number x, in limbs of xBits bits, to limbs of zBits
// bits in z (both at most 32); limbs past the number's end are zero.
func repackLimbs[Z, X uint32 | uint64](z []Z, zBits int, x []X, xBits int) {
	var acc uint64
	nb, j := 0, 0
	for i := range z {
		for nb < zBits && j < len(x) {
			acc |= uint64(x[j]) << nb
			nb += xBits
			j++
		}
		z[i] = Z(acc & (1<<zBits - 1))
		acc >>= zBits
		nb -= zBits
		if nb < 0 {
			nb = 0
		}
	}
}

// exp28 is exp for 2048-bit moduli: sv (sig as 32-bit limbs, < n) to the power e,
// result as fully reduced 32-bit limbs in out (len 64).
func (m *montRSA) exp28(out, sv []uint32, sc *rsaScratch) {
	k := m.m28
	if k.k.exp(m, out, sv) {
		return
	}
	s, x, acc := &sc.s28, &sc.x28, &sc.acc28
	limbs32To28(s, sv)
	mont28Mul2048(x, s, &k.rr, &k.n, k.n0inv, &sc.q28) // x = sig*R mod n (< 2n)
	montPow28(m.e, acc, x, s, func(b *pad28) { clear(b[:]); b[rsa28Pad] = 1 },
		func(z *pad28) { mont28Sqr2048(z, z, &k.n, k.n0inv, &sc.q28) },
		func(z, y *pad28) { mont28Mul2048(z, z, y, &k.n, k.n0inv, &sc.q28) })
	t := sc.t[:rsa2048Limbs+1]
	limbs28To32(t, acc)
	reduceOnce(t, m.n) // acc < 2n
	copy(out, t[:rsa2048Limbs])
}

// montPow28 is the square-and-multiply chain of exp28, shared with the spliced wasm kernels
// (fast_kern_spliced.go), whose operands have another limb layout B. From x = sig*R mod n
// (Montgomery form) and s = sig it sets acc = sig^e mod n, leaving Montgomery form through the
// last product with the plain sig (or with 1, which one writes into s, when e is even), so no
// conversion back is needed. sqr(z) sets z = z*z/R and mul(z, y) sets z = z*y/R; with every
// operand below 2n each product is below 2n too, and so is acc.
func montPow28[B any](e uint32, acc, x, s *B, one func(*B), sqr func(z *B), mul func(z, y *B)) {
	top := 31
	for e>>uint(top)&1 == 0 {
		top--
	}
	if top == 0 {
		*acc = *s
		return
	}
	*acc = *x
	for i := top - 1; i >= 1; i-- {
		sqr(acc)
		if e>>uint(i)&1 == 1 {
			mul(acc, x)
		}
	}
	sqr(acc)
	if e&1 == 0 {
		one(s)
	}
	mul(acc, s)
}
