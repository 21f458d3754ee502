package jwt

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	oldrand "math/rand"
	mrand "math/rand/v2"
	"testing"
)

func feToBig(x *fe) *big.Int {
	b := make([]byte, 32)
	for i := 0; i < 8; i++ {
		o := 28 - 4*i
		b[o], b[o+1], b[o+2], b[o+3] = byte(x[i]>>24), byte(x[i]>>16), byte(x[i]>>8), byte(x[i])
	}
	return new(big.Int).SetBytes(b)
}

func feFromBig(v *big.Int) fe {
	var z fe
	feFromBytes(&z, v.FillBytes(make([]byte, 32)))
	return z
}

// TestMont8Differential compares the unrolled Montgomery multiplication with math/big
// for both moduli it is used with.
func TestMont8Differential(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(5, 6))
	params := elliptic.P256().Params()
	for _, mod := range []struct {
		m  *fe
		m0 uint32
		n  *big.Int
	}{{&p256P, p256P0, params.P}, {&p256N, p256N0, params.N}} {
		rInv := new(big.Int).ModInverse(new(big.Int).Lsh(big.NewInt(1), 256), mod.n)
		for i := 0; i < 2000; i++ {
			xb := new(big.Int).Rand(newBigRand(rng), mod.n)
			yb := new(big.Int).Rand(newBigRand(rng), mod.n)
			switch i {
			case 0:
				xb.Sub(mod.n, big.NewInt(1))
				yb.Sub(mod.n, big.NewInt(1))
			case 1:
				xb.SetInt64(0)
			}
			x, y := feFromBig(xb), feFromBig(yb)
			var z fe
			mont8(&z, &x, &y, mod.m, mod.m0)
			want := new(big.Int).Mul(xb, yb)
			want.Mul(want, rInv).Mod(want, mod.n)
			if feToBig(&z).Cmp(want) != 0 {
				t.Fatalf("mont8(%x, %x) = %x, want %x", xb, yb, feToBig(&z), want)
			}
			a, s := addMod(&x, &y, mod.m), subMod(&x, &y, mod.m)
			if feToBig(&a).Cmp(new(big.Int).Mod(new(big.Int).Add(xb, yb), mod.n)) != 0 {
				t.Fatal("addMod mismatch")
			}
			if feToBig(&s).Cmp(new(big.Int).Mod(new(big.Int).Sub(xb, yb), mod.n)) != 0 {
				t.Fatal("subMod mismatch")
			}
		}
	}
}

// bigRand adapts math/rand/v2 to the math/rand v1 source big.Int.Rand wants.
type bigRand struct{ r *mrand.Rand }

func (b *bigRand) Int63() int64   { return int64(b.r.Uint64() >> 1) }
func (b *bigRand) Seed(int64)     {}
func (b *bigRand) Uint64() uint64 { return b.r.Uint64() }

func newBigRand(r *mrand.Rand) *oldrand.Rand { return oldrand.New(&bigRand{r}) }

// TestP256TableMatchesScalarMult checks table entries and scalar multiplications
// against crypto/elliptic's reference arithmetic.
func TestP256Scalar(t *testing.T) {
	c := elliptic.P256()
	rng := mrand.New(mrand.NewPCG(7, 8))
	g := p256G()
	for i := 0; i < 50; i++ {
		k := make([]byte, 32)
		for j := range k {
			k[j] = byte(rng.Uint32())
		}
		if i == 0 {
			k = c.Params().N.FillBytes(make([]byte, 32))
			k[31]-- // n-1
		}
		var kf fe
		feFromBytes(&kf, k)
		var acc jacPoint
		g.addScalarMult(&acc, &kf)
		wx, wy := c.ScalarBaseMult(k) //nolint:staticcheck // reference only
		x, y := jacToAffineBig(&acc)
		if x.Cmp(wx) != 0 || y.Cmp(wy) != 0 {
			t.Fatalf("k*G mismatch for k=%x", k)
		}
	}
}

func jacToAffineBig(p *jacPoint) (*big.Int, *big.Int) {
	zi := finv(&p.z)
	z2 := fmul(&zi, &zi)
	z3 := fmul(&z2, &zi)
	x := fmul(&p.x, &z2)
	y := fmul(&p.y, &z3)
	var one fe
	one[0] = 1
	x = fmul(&x, &one)
	y = fmul(&y, &one)
	return feToBig(&x), feToBig(&y)
}

// TestP256VerifyDifferential compares acceptance with crypto/ecdsa on valid,
// tampered and edge-case signatures.
func TestP256VerifyDifferential(t *testing.T) {
	keysList := []*ecdsa.PrivateKey{keys(t).p256}
	for i := 0; i < 3; i++ {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		keysList = append(keysList, k)
	}
	n := elliptic.P256().Params().N
	for _, priv := range keysList {
		v := newP256Verifier(&priv.PublicKey)
		check := func(name string, d, sig []byte) {
			t.Helper()
			r := new(big.Int).SetBytes(sig[:32])
			s := new(big.Int).SetBytes(sig[32:])
			want := ecdsa.Verify(&priv.PublicKey, d, r, s)
			if got := v.verify(d, sig); got != want {
				t.Errorf("%s: fast=%v stdlib=%v", name, got, want)
			}
		}
		for i := 0; i < 20; i++ {
			msg := []byte{byte(i), 1, 2, 3}
			d := sha256.Sum256(msg)
			r, s, err := ecdsa.Sign(rand.Reader, priv, d[:])
			if err != nil {
				t.Fatal(err)
			}
			sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
			check("valid", d[:], sig)
			if !v.verify(d[:], sig) {
				t.Fatal("valid signature rejected")
			}
			// High-S form (n - s) is also valid ECDSA.
			hs := append(r.FillBytes(make([]byte, 32)), new(big.Int).Sub(n, s).FillBytes(make([]byte, 32))...)
			check("high-s", d[:], hs)
			bad := bytes.Clone(sig)
			bad[i%64] ^= 1 << (i % 8)
			check("flipped", d[:], bad)
			od := d
			od[31] ^= 1
			check("other digest", od[:], sig)
		}
		d := sha256.Sum256([]byte("edge"))
		nb := n.FillBytes(make([]byte, 32))
		zero := make([]byte, 32)
		one := make([]byte, 32)
		one[31] = 1
		check("r=s=0", d[:], append(bytes.Clone(zero), zero...))
		check("r=n", d[:], append(bytes.Clone(nb), one...))
		check("s=n", d[:], append(bytes.Clone(one), nb...))
		check("r=s=1", d[:], append(bytes.Clone(one), one...))
		ff := bytes.Repeat([]byte{0xff}, 32)
		check("digest >= n", ff, append(bytes.Clone(one), one...))
	}
}

// TestP256DigestAboveN uses a digest >= n with a real signature: crypto/ecdsa
// reduces it mod n, so must we. The signature is made for e = digest - n.
func TestP256DigestAboveN(t *testing.T) {
	priv := keys(t).p256
	n := elliptic.P256().Params().N
	d := bytes.Repeat([]byte{0xff}, 32)
	r, s, err := ecdsa.Sign(rand.Reader, priv, d)
	if err != nil {
		t.Fatal(err)
	}
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	if !ecdsa.Verify(&priv.PublicKey, d, r, s) || !newP256Verifier(&priv.PublicKey).verify(d, sig) {
		t.Fatal("digest >= n not handled like crypto/ecdsa")
	}
	_ = n
}

// FuzzP256Verify: fuzzed signatures and digests never disagree with crypto/ecdsa.
func FuzzP256Verify(f *testing.F) {
	priv := keys(f).p256
	v := newP256Verifier(&priv.PublicKey)
	d := sha256.Sum256([]byte("fuzz"))
	r, s, _ := ecdsa.Sign(rand.Reader, priv, d[:])
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	f.Add(d[:], sig)
	f.Add(make([]byte, 32), make([]byte, 64))
	f.Fuzz(func(t *testing.T, d, sig []byte) {
		if len(d) != 32 || len(sig) != 64 {
			return
		}
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		if got, want := v.verify(d, sig), ecdsa.Verify(&priv.PublicKey, d, r, s); got != want {
			t.Fatalf("fast=%v stdlib=%v", got, want)
		}
	})
}
