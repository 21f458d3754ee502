package jwt

import (
	"crypto"
	"crypto/elliptic"
	_ "crypto/sha256" // register SHA-256 for crypto.Hash
	_ "crypto/sha512" // register SHA-384/512 for crypto.Hash
)

// family is the key type an algorithm needs.
type family uint8

const (
	famRSA family = iota + 1
	famPSS
	famEC
	famEd
	famHMAC
)

// algInfo describes one supported JWS algorithm (RFC 7518 section 3, RFC 8037).
type algInfo struct {
	name  string
	fam   family
	hash  crypto.Hash    // 0 for EdDSA
	curve elliptic.Curve // ES* only
	size  int            // ES*: coordinate size in bytes; HS*: minimum secret size
}

var algs = [...]algInfo{
	{name: "RS256", fam: famRSA, hash: crypto.SHA256},
	{name: "RS384", fam: famRSA, hash: crypto.SHA384},
	{name: "RS512", fam: famRSA, hash: crypto.SHA512},
	{name: "PS256", fam: famPSS, hash: crypto.SHA256},
	{name: "PS384", fam: famPSS, hash: crypto.SHA384},
	{name: "PS512", fam: famPSS, hash: crypto.SHA512},
	{name: "ES256", fam: famEC, hash: crypto.SHA256, size: 32},
	{name: "ES384", fam: famEC, hash: crypto.SHA384, size: 48},
	{name: "ES512", fam: famEC, hash: crypto.SHA512, size: 66},
	{name: "EdDSA", fam: famEd},
	{name: "HS256", fam: famHMAC, hash: crypto.SHA256, size: 32},
	{name: "HS384", fam: famHMAC, hash: crypto.SHA384, size: 48},
	{name: "HS512", fam: famHMAC, hash: crypto.SHA512, size: 64},
}

func init() {
	algs[6].curve = elliptic.P256()
	algs[7].curve = elliptic.P384()
	algs[8].curve = elliptic.P521()
}

// lookupAlg returns the algorithm named exactly name (JOSE names are case-sensitive).
func lookupAlg(name string) *algInfo {
	for i := range algs {
		if algs[i].name == name {
			return &algs[i]
		}
	}
	return nil
}

// curveForAlg maps an EC curve name to the ES algorithm that uses it.
func algForCurve(crv string) *algInfo {
	switch crv {
	case "P-256":
		return &algs[6]
	case "P-384":
		return &algs[7]
	case "P-521":
		return &algs[8]
	}
	return nil
}
