package jwt

import (
	"bytes"
	"crypto/rsa"
	"math/big"
	mrand "math/rand/v2"
	"testing"
)

func pad28FromBig(v *big.Int) *pad28 {
	p := new(pad28)
	for i := 0; i < rsa28Limbs; i++ {
		p[rsa28Pad+i] = limb28(new(big.Int).And(new(big.Int).Rsh(v, uint(28*i)), big.NewInt(1<<28-1)).Uint64())
	}
	return p
}

func pad28ToBig(t testing.TB, p *pad28) *big.Int {
	t.Helper()
	v := new(big.Int)
	for i := range p {
		if i < rsa28Pad || i >= rsa28Pad+rsa28Limbs {
			if p[i] != 0 {
				t.Fatalf("padding limb %d = %#x, want 0", i, p[i])
			}
			continue
		}
		if p[i] >= 1<<28 {
			t.Fatalf("limb %d = %#x is not below 2^28", i-rsa28Pad, p[i])
		}
		v.Add(v, new(big.Int).Lsh(new(big.Int).SetUint64(uint64(p[i])), uint(28*(i-rsa28Pad))))
	}
	return v
}

// TestMont28Differential compares mont28Mul2048 and mont28Sqr2048 with math/big on
// random and edge operands below 2n (the range exp28 keeps them in), and checks
// that results stay below 2n with 28-bit limbs and zero padding.
func TestMont28Differential(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(31, 32))
	one := big.NewInt(1)
	for _, n := range rsa2048TestModuli(t) {
		m := newMontRSA(&rsa.PublicKey{N: n, E: 65537})
		k := m.m28
		if k == nil {
			t.Fatalf("modulus %x: no 28-bit path", n)
		}
		r := new(big.Int).Lsh(one, 28*rsa28Limbs)
		rInv := new(big.Int).ModInverse(r, n)
		if got := pad28ToBig(t, &k.rr); got.Cmp(new(big.Int).Mod(new(big.Int).Mul(r, r), n)) != 0 {
			t.Fatal("rr != R^2 mod n")
		}
		n2 := new(big.Int).Lsh(n, 1)
		xs := []*big.Int{
			big.NewInt(0), one, new(big.Int).Sub(n, one), n, new(big.Int).Sub(n2, one),
			new(big.Int).Rsh(n, 1), new(big.Int).Sub(new(big.Int).Lsh(one, 2048), one),
		}
		for i := 0; i < 40; i++ {
			xs = append(xs, new(big.Int).Rand(newBigRand(rng), n2))
		}
		for i := 0; i < 10; i++ { // limbs of 0 and 2^28-1
			v := new(big.Int)
			for j := 0; j < rsa28Limbs; j++ {
				if rng.IntN(2) == 0 {
					v.Add(v, new(big.Int).Lsh(big.NewInt(1<<28-1), uint(28*j)))
				}
			}
			xs = append(xs, v.Mod(v, n2))
		}
		check := func(name string, got *pad28, a, b *big.Int) {
			t.Helper()
			g := pad28ToBig(t, got)
			if g.Cmp(n2) >= 0 {
				t.Fatalf("%s: result %x >= 2n", name, g)
			}
			want := new(big.Int).Mul(a, b)
			want.Mul(want, rInv).Mod(want, n)
			if new(big.Int).Mod(g, n).Cmp(want) != 0 {
				t.Fatalf("%s: n=%x\na=%x\nb=%x\ngot  %x\nwant %x", name, n, a, b, g, want)
			}
		}
		var q pad28
		for i, a := range xs {
			b := xs[(i*7+3)%len(xs)]
			pa, pb := pad28FromBig(a), pad28FromBig(b)
			var z pad28
			mont28Mul2048(&z, pa, pb, &k.n, k.n0inv, &q)
			check("mul", &z, a, b)
			mont28Sqr2048(&z, pa, &k.n, k.n0inv, &q)
			check("sqr", &z, a, a)
			// In place, as exp28 uses them.
			y := *pa
			mont28Mul2048(&y, &y, pb, &k.n, k.n0inv, &q)
			check("mul in place", &y, a, b)
			y = *pa
			mont28Mul2048(&y, &y, &y, &k.n, k.n0inv, &q)
			check("mul in place x*x", &y, a, a)
			y = *pa
			mont28Sqr2048(&y, &y, &k.n, k.n0inv, &q)
			check("sqr in place", &y, a, a)
		}
	}
}

// BenchmarkMont28 times one 28-bit-limb Montgomery multiplication and squaring.
func BenchmarkMont28(b *testing.B) {
	m := newMontRSA(&keys(b).rsa.PublicKey)
	k := m.m28
	var q pad28
	x := pad28FromBig(new(big.Int).Rsh(keys(b).rsa.N, 3))
	b.Run("mul", func(b *testing.B) {
		for b.Loop() {
			mont28Mul2048(x, x, x, &k.n, k.n0inv, &q)
		}
	})
	b.Run("sqr", func(b *testing.B) {
		for b.Loop() {
			mont28Sqr2048(x, x, &k.n, k.n0inv, &q)
		}
	})
}

// TestMont28ExpPaths compares exp on the 28-bit path with the 32-bit path and with
// math/big for several exponents (exp28 handles odd, even and e = 1).
func TestMont28ExpPaths(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(33, 34))
	defer func(v bool) { useMont28 = v }(useMont28)
	for _, n := range rsa2048TestModuli(t) {
		for _, e := range []int{1, 2, 3, 65537, 1<<31 - 1} {
			m := newMontRSA(&rsa.PublicKey{N: n, E: e})
			for i := 0; i < 3; i++ {
				s := new(big.Int).Rand(newBigRand(rng), n)
				switch i {
				case 0:
					s.Sub(n, big.NewInt(1))
				case 1:
					s.SetInt64(1)
				}
				sig := s.FillBytes(make([]byte, m.size))
				want := new(big.Int).Exp(s, big.NewInt(int64(e)), n).FillBytes(make([]byte, m.size))
				for _, on := range []bool{true, false} {
					useMont28 = on
					em := make([]byte, m.size)
					if !m.exp(em, sig) || string(em) != string(want) {
						t.Fatalf("mont28=%v e=%d n=%x s=%x: exp mismatch", on, e, n, s)
					}
				}
			}
		}
	}
}

// FuzzMont28 compares mont28Mul2048 and mont28Sqr2048 (and the modexp built on
// them) with math/big for arbitrary odd moduli of 2017 to 2048 bits and operands
// below 2n.
func FuzzMont28(f *testing.F) {
	ones := bytes.Repeat([]byte{0xff}, 256)
	f.Add(ones, ones, ones)
	f.Add(ones, []byte{1}, []byte{0})
	f.Add([]byte{0x80, 0, 1}, bytes.Repeat([]byte{0x55}, 257), []byte{2})
	f.Fuzz(func(t *testing.T, nb, ab, bb []byte) {
		if len(nb) > 256 {
			nb = nb[:256]
		}
		n := new(big.Int).SetBytes(nb)
		n.SetBit(n, 0, 1)
		if n.BitLen() <= 2016 {
			n.SetBit(n, 2016+len(nb)%32, 1)
		}
		m := newMontRSA(&rsa.PublicKey{N: n, E: 65537})
		k := m.m28
		if k == nil {
			t.Fatalf("no 28-bit path for %d-bit modulus", n.BitLen())
		}
		n2 := new(big.Int).Lsh(n, 1)
		a := new(big.Int).SetBytes(ab)
		a.Mod(a, n2)
		b := new(big.Int).SetBytes(bb)
		b.Mod(b, n2)
		rInv := new(big.Int).ModInverse(new(big.Int).Lsh(big.NewInt(1), 28*rsa28Limbs), n)
		check := func(name string, got *pad28, x, y *big.Int) {
			g := pad28ToBig(t, got)
			want := new(big.Int).Mul(x, y)
			want.Mul(want, rInv).Mod(want, n)
			if g.Cmp(n2) >= 0 || new(big.Int).Mod(g, n).Cmp(want) != 0 {
				t.Fatalf("%s: n=%x a=%x b=%x: got %x", name, n, x, y, g)
			}
		}
		var z, q pad28
		pa, pb := pad28FromBig(a), pad28FromBig(b)
		mont28Mul2048(&z, pa, pb, &k.n, k.n0inv, &q)
		check("mul", &z, a, b)
		mont28Sqr2048(&z, pa, &k.n, k.n0inv, &q)
		check("sqr", &z, a, a)
		mont28Mul2048(pa, pa, pa, &k.n, k.n0inv, &q)
		check("mul in place", pa, a, a)
		s := new(big.Int).Mod(a, n)
		em := make([]byte, m.size)
		want := new(big.Int).Exp(s, big.NewInt(65537), n).FillBytes(make([]byte, m.size))
		if !m.exp(em, s.FillBytes(make([]byte, m.size))) || string(em) != string(want) {
			t.Fatalf("exp: n=%x s=%x", n, s)
		}
	})
}
