package jwt

import (
	"crypto/elliptic"
	"math/big"
	mrand "math/rand/v2"
	"testing"
)

// TestP256FieldOps compares the P-256-specialised field operations (p256MulMont,
// fadd, fsub, p256CondSubP) with math/big and with the generic mont8, on random
// values and on the edge values where carries and borrows run through every limb.
func TestP256FieldOps(t *testing.T) {
	p := elliptic.P256().Params().P
	rInv := new(big.Int).ModInverse(new(big.Int).Lsh(big.NewInt(1), 256), p)
	one := big.NewInt(1)
	edges := []*big.Int{
		big.NewInt(0), big.NewInt(1), big.NewInt(2),
		new(big.Int).Sub(p, one), new(big.Int).Sub(p, big.NewInt(2)),
		new(big.Int).Rsh(p, 1), new(big.Int).Add(new(big.Int).Rsh(p, 1), one),
		new(big.Int).Lsh(one, 255), new(big.Int).Sub(new(big.Int).Lsh(one, 224), one),
		new(big.Int).Lsh(one, 96), new(big.Int).Lsh(one, 192), new(big.Int).Sub(new(big.Int).Lsh(one, 32), one),
	}
	rng := mrand.New(mrand.NewPCG(11, 12))
	var vals []*big.Int
	vals = append(vals, edges...)
	for i := 0; i < 300; i++ {
		vals = append(vals, new(big.Int).Rand(newBigRand(rng), p))
	}
	// Values with long runs of 0 and 0xffffffff limbs, the carry-chain stress cases.
	for i := 0; i < 200; i++ {
		var z fe
		for j := range z {
			switch rng.IntN(4) {
			case 0:
				z[j] = 0
			case 1:
				z[j] = 0xffffffff
			case 2:
				z[j] = 1
			default:
				z[j] = rng.Uint32()
			}
		}
		v := feToBig(&z)
		if v.Cmp(p) < 0 {
			vals = append(vals, v)
		}
	}
	check := func(op string, xb, yb *big.Int, got *fe, want *big.Int) {
		t.Helper()
		if feToBig(got).Cmp(want) != 0 {
			t.Fatalf("%s(%x, %x) = %x, want %x", op, xb, yb, feToBig(got), want)
		}
	}
	for i, xb := range vals {
		for j, yb := range vals {
			if i >= len(edges) && j >= len(edges) && (i+j)%7 != 0 {
				continue // all edge pairs, a sample of the rest
			}
			x, y := feFromBig(xb), feFromBig(yb)
			m := fmul(&x, &y)
			check("fmul", xb, yb, &m, new(big.Int).Mod(new(big.Int).Mul(new(big.Int).Mul(xb, yb), rInv), p))
			var g fe
			mont8(&g, &x, &y, &p256P, p256P0)
			if g != m {
				t.Fatalf("p256MulMont and mont8 disagree on %x * %x", xb, yb)
			}
			a := fadd(&x, &y)
			check("fadd", xb, yb, &a, new(big.Int).Mod(new(big.Int).Add(xb, yb), p))
			s := fsub(&x, &y)
			check("fsub", xb, yb, &s, new(big.Int).Mod(new(big.Int).Sub(xb, yb), p))
			// Aliased output, as the point formulas use it.
			z := x
			p256MulMont(&z, &z, &z)
			zz := fmul(&x, &x)
			if z != zz {
				t.Fatal("p256MulMont with aliased operands differs")
			}
		}
	}
	// p256CondSubP on every value below 2p, with and without the 2^256 bit.
	for _, vb := range vals {
		for _, add := range []*big.Int{big.NewInt(0), p} {
			w := new(big.Int).Add(vb, add)
			var z fe
			var hi uint64
			if w.BitLen() > 256 {
				hi = 1
			}
			low := new(big.Int).Set(w)
			low.SetBit(low, 256, 0)
			feFromBytes(&z, low.FillBytes(make([]byte, 32)))
			p256CondSubP(&z, hi)
			check("p256CondSubP", w, add, &z, vb)
		}
	}
}

// FuzzP256Field: fuzzed field elements never make the specialised field operations
// disagree with math/big.
func FuzzP256Field(f *testing.F) {
	f.Add(make([]byte, 32), make([]byte, 32))
	p := elliptic.P256().Params().P
	pm1 := new(big.Int).Sub(p, big.NewInt(1)).FillBytes(make([]byte, 32))
	f.Add(pm1, pm1)
	rInv := new(big.Int).ModInverse(new(big.Int).Lsh(big.NewInt(1), 256), p)
	f.Fuzz(func(t *testing.T, xs, ys []byte) {
		if len(xs) != 32 || len(ys) != 32 {
			return
		}
		xb := new(big.Int).Mod(new(big.Int).SetBytes(xs), p)
		yb := new(big.Int).Mod(new(big.Int).SetBytes(ys), p)
		x, y := feFromBig(xb), feFromBig(yb)
		m, a, s := fmul(&x, &y), fadd(&x, &y), fsub(&x, &y)
		if feToBig(&m).Cmp(new(big.Int).Mod(new(big.Int).Mul(new(big.Int).Mul(xb, yb), rInv), p)) != 0 ||
			feToBig(&a).Cmp(new(big.Int).Mod(new(big.Int).Add(xb, yb), p)) != 0 ||
			feToBig(&s).Cmp(new(big.Int).Mod(new(big.Int).Sub(xb, yb), p)) != 0 {
			t.Fatalf("field ops disagree with math/big on %x, %x", xb, yb)
		}
	})
}
