package jwt

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"math/big"
	"testing"
)

// BenchmarkParts splits the structural cost of Verify, to see where wasm time goes.
func BenchmarkParts(b *testing.B) {
	g, _, _ := loadGolden(b)
	tok := g.Cases[0].Token
	p, err := parseCompact(tok, DefaultMaxHeaderBytes)
	if err != nil {
		b.Fatal(err)
	}
	payload, _ := decodeB64(p.payload)
	b.Run("b64payload", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(p.payload)))
		for b.Loop() {
			decodeB64(p.payload)
		}
	})
	b.Run("scanJSON", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(payload)))
		for b.Loop() {
			if err := checkJSONObject(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parseClaims", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parseClaims(payload)
		}
	})
	b.Run("parseCompact", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			parseCompact(tok, DefaultMaxHeaderBytes)
		}
	})
	b.Run("sha256input", func(b *testing.B) {
		b.SetBytes(int64(len(p.input)))
		for b.Loop() {
			sha256.Sum256(bytesOf(p.input))
		}
	})
	b.Run("sha512input", func(b *testing.B) {
		b.SetBytes(int64(len(p.input)))
		for b.Loop() {
			sha512.Sum512(bytesOf(p.input))
		}
	})
}

// BenchmarkRSAVerify compares crypto/rsa with the 32-bit Montgomery path on the
// bare PKCS#1 v1.5 check (no parsing, no hashing).
func BenchmarkRSAVerify(b *testing.B) {
	k := keys(b)
	d := sha256.Sum256([]byte("x"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, d[:])
	if err != nil {
		b.Fatal(err)
	}
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if rsa.VerifyPKCS1v15(&k.rsa.PublicKey, crypto.SHA256, d[:], sig) != nil {
				b.Fatal("bad")
			}
		}
	})
	m := newMontRSA(&k.rsa.PublicKey)
	b.Run("mont32", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !m.verifyPKCS1v15(crypto.SHA256, d[:], sig) {
				b.Fatal("bad")
			}
		}
	})
}

// BenchmarkES256Verify compares crypto/ecdsa with the table-driven P-256 path on the
// bare signature check.
func BenchmarkES256Verify(b *testing.B) {
	priv := keys(b).p256
	d := sha256.Sum256([]byte("x"))
	r, s, err := ecdsa.Sign(rand.Reader, priv, d[:])
	if err != nil {
		b.Fatal(err)
	}
	sig := append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
	b.Run("stdlib", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !ecdsa.Verify(&priv.PublicKey, d[:], r, s) {
				b.Fatal("bad")
			}
		}
	})
	v := newP256Verifier(&priv.PublicKey)
	b.Run("table32", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if !v.verify(d[:], sig) {
				b.Fatal("bad")
			}
		}
	})
	b.Run("precompute", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			newP256Verifier(&priv.PublicKey)
		}
	})
}

// BenchmarkP256Parts times the field/scalar primitives of the P-256 path.
func BenchmarkP256Parts(b *testing.B) {
	x, y := p256One, p256B
	b.Run("mont8", func(b *testing.B) {
		for b.Loop() {
			mont8(&x, &x, &y, &p256P, p256P0)
		}
	})
	b.Run("addMod", func(b *testing.B) {
		for b.Loop() {
			x = addMod(&x, &y, &p256P)
		}
	})
	b.Run("powMont", func(b *testing.B) {
		for b.Loop() {
			x = powMont(&y, &p256N, p256N0, &p256One)
		}
	})
	b.Run("bigModInverse", func(b *testing.B) {
		n := elliptic.P256().Params().N
		s := new(big.Int).SetBytes(bytes.Repeat([]byte{0x5a}, 32))
		b.ReportAllocs()
		for b.Loop() {
			new(big.Int).ModInverse(s, n)
		}
	})
	b.Run("invN", func(b *testing.B) {
		s := feFromBigBytes(bytes.Repeat([]byte{0x5a}, 32))
		b.ReportAllocs()
		for b.Loop() {
			p256InvN(&s)
		}
	})
	b.Run("addAffine", func(b *testing.B) {
		g := p256G()
		acc := jacPoint{g[0][1].x, g[0][1].y, p256One}
		for b.Loop() {
			acc.addAffine(&g[5][7])
		}
	})
}
