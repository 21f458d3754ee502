package jwt

import (
	"crypto/rsa"
	"math/big"
	mrand "math/rand/v2"
	"testing"
)

// rsa2048TestModuli returns odd 2048-bit moduli: the generated keys, plus moduli
// whose limbs are all 0xffffffff or mostly 0 (long carry chains in every row).
func rsa2048TestModuli(t testing.TB) []*big.Int {
	k := keys(t)
	one := big.NewInt(1)
	out := []*big.Int{k.rsa.N, k.rsa2.N}
	out = append(out, new(big.Int).Sub(new(big.Int).Lsh(one, 2048), one))             // 2^2048-1
	out = append(out, new(big.Int).Add(new(big.Int).Lsh(one, 2047), one))             // 2^2047+1
	out = append(out, new(big.Int).Sub(new(big.Int).Lsh(one, 2048), big.NewInt(189))) // 2^2048-189
	out = append(out, new(big.Int).Add(new(big.Int).Lsh(one, 2047), new(big.Int).Lsh(one, 1024).Add(new(big.Int).Lsh(one, 1024), one)))
	return out
}

func limbsFromBig(v *big.Int, n int) []uint32 {
	z := make([]uint32, n)
	bytesToLimbs(z, v.FillBytes(make([]byte, 4*n)))
	return z
}

func limbsToBig(z []uint32) *big.Int {
	b := make([]byte, 4*len(z))
	for i, v := range z {
		o := len(b) - 4*(i+1)
		b[o], b[o+1], b[o+2], b[o+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	return new(big.Int).SetBytes(b)
}

// TestMontSqr2048Differential compares montSqr2048 with math/big and with
// montMul2048(x, x) on random and edge operands.
func TestMontSqr2048Differential(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(21, 22))
	one := big.NewInt(1)
	for _, n := range rsa2048TestModuli(t) {
		m := newMontRSA(&rsa.PublicKey{N: n, E: 65537})
		if m == nil || len(m.n) != rsa2048Limbs {
			t.Fatalf("modulus %x: no 2048-bit montRSA", n)
		}
		rInv := new(big.Int).ModInverse(new(big.Int).Lsh(one, 2048), n)
		sc := new(rsaScratch)
		nl := (*limbs2048)(m.n)
		xs := []*big.Int{
			big.NewInt(0), big.NewInt(1), new(big.Int).Sub(n, one), new(big.Int).Rsh(n, 1),
			new(big.Int).Sub(new(big.Int).Lsh(one, 2047), one), new(big.Int).Sub(n, big.NewInt(2)),
		}
		for i := 0; i < 60; i++ {
			xs = append(xs, new(big.Int).Rand(newBigRand(rng), n))
		}
		for i := 0; i < 20; i++ { // limbs of 0 and 0xffffffff
			var l limbs2048
			for j := range l {
				if rng.IntN(2) == 0 {
					l[j] = 0xffffffff
				}
			}
			xs = append(xs, new(big.Int).Mod(limbsToBig(l[:]), n))
		}
		for _, xb := range xs {
			x := (*limbs2048)(limbsFromBig(xb, rsa2048Limbs))
			var z, w limbs2048
			montSqr2048(&z, x, nl, m.n0inv, &sc.sq)
			want := new(big.Int).Mul(xb, xb)
			want.Mul(want, rInv).Mod(want, n)
			if got := limbsToBig(z[:]); got.Cmp(want) != 0 {
				t.Fatalf("n=%x\nx=%x\nmontSqr2048 = %x\nwant          %x", n, xb, got, want)
			}
			montMul2048(&w, x, x, nl, m.n0inv, (*[rsa2048Limbs + 1]uint32)(sc.t[:rsa2048Limbs+1]))
			if w != z {
				t.Fatal("montMul2048(x, x) != montSqr2048(x)")
			}
			// In place, as exp uses it.
			y := *x
			montSqr2048(&y, &y, nl, m.n0inv, &sc.sq)
			if y != z {
				t.Fatal("montSqr2048 in place differs")
			}
		}
	}
}

// TestMontRSAExpExponents checks the exponent loop (which leaves Montgomery form
// through its last multiplication) for small, even and odd exponents, with and
// without the squaring routine.
func TestMontRSAExpExponents(t *testing.T) {
	k := keys(t)
	rng := mrand.New(mrand.NewPCG(23, 24))
	defer func(v bool) { useFastSqr = v }(useFastSqr)
	for _, fast := range []bool{true, false} {
		useFastSqr = fast
		for _, n := range append(rsa2048TestModuli(t), new(big.Int).Rsh(k.rsa2.N, 13).SetBit(new(big.Int).Rsh(k.rsa2.N, 13), 0, 1)) {
			for _, e := range []int{1, 2, 3, 4, 5, 16, 17, 65536, 65537, 65539, 1<<31 - 1} {
				m := newMontRSA(&rsa.PublicKey{N: n, E: e})
				for i := 0; i < 4; i++ {
					sb := new(big.Int).Rand(newBigRand(rng), n)
					if i == 0 {
						sb.Sub(n, big.NewInt(1))
					}
					sig := sb.FillBytes(make([]byte, m.size))
					em := make([]byte, m.size)
					if !m.exp(em, sig) {
						t.Fatal("exp rejected sig < n")
					}
					want := new(big.Int).Exp(sb, big.NewInt(int64(e)), n).FillBytes(make([]byte, m.size))
					if string(em) != string(want) {
						t.Fatalf("fastSqr=%v e=%d n=%x: exp mismatch", fast, e, n)
					}
				}
			}
		}
	}
}

// BenchmarkMont2048 compares one Montgomery multiplication with one squaring.
func BenchmarkMont2048(b *testing.B) {
	m := newMontRSA(&keys(b).rsa.PublicKey)
	sc := new(rsaScratch)
	x := (*limbs2048)(limbsFromBig(new(big.Int).Rsh(keys(b).rsa.N, 3), rsa2048Limbs))
	n := (*limbs2048)(m.n)
	b.Run("mul", func(b *testing.B) {
		for b.Loop() {
			montMul2048(x, x, x, n, m.n0inv, (*[rsa2048Limbs + 1]uint32)(sc.t[:rsa2048Limbs+1]))
		}
	})
	b.Run("sqr", func(b *testing.B) {
		for b.Loop() {
			montSqr2048(x, x, n, m.n0inv, &sc.sq)
		}
	})
}

// BenchmarkRSAExp times the bare modular exponentiation of a PKCS#1 v1.5 check
// (BenchmarkRSAVerify/mont32 minus this is the padding check).
func BenchmarkRSAExp(b *testing.B) {
	m := newMontRSA(&keys(b).rsa.PublicKey)
	sig := new(big.Int).Rsh(keys(b).rsa.N, 1).FillBytes(make([]byte, m.size))
	em := make([]byte, m.size)
	for b.Loop() {
		m.exp(em, sig)
	}
}
