package jwt

import (
	"crypto"
	"runtime"
)

// rsaFast and ecFast are optional precomputed verifiers attached to a key when
// parsed (see prepareFast). They must agree exactly with crypto/rsa and crypto/ecdsa;
// differential tests and fuzzing check this.
type rsaFast interface {
	verifyPKCS1v15(h crypto.Hash, digest, sig []byte) bool
	verifyPSS(h crypto.Hash, digest, sig []byte) bool
}

type ecFast interface {
	verify(digest, sig []byte) bool
}

// useFastRSA enables the RSA path of fast_rsa.go (28-bit limbs for 2048-bit keys,
// 32-bit otherwise). It only pays off under wasm, where
// the stdlib's 64-bit big-number code is emulated; natively crypto/rsa uses assembly.
// Tests switch it on natively for differential testing.
var useFastRSA = runtime.GOARCH == "wasm"

// useFastEC enables the 32-bit-limb, table-driven P-256 path (ES256), likewise.
var useFastEC = runtime.GOARCH == "wasm"

func fastRSA(k *key) rsaFast {
	f, _ := k.fast.(rsaFast)
	return f
}

func fastEC(k *key) ecFast {
	f, _ := k.fast.(ecFast)
	return f
}

// prepareFast precomputes per-key data for the fast verifiers, if enabled.
func prepareFast(k *key) {
	if k.rsa != nil && useFastRSA {
		if m := newMontRSA(k.rsa); m != nil {
			k.fast = m
		}
	}
	if k.ec != nil && useFastEC {
		if v := newP256Verifier(k.ec); v != nil { // nil for P-384/P-521
			k.fast = v
		}
	}
}
