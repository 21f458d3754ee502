package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"math/big"
	"strconv"

	"github.com/tidwall/gjson"
)

// Limits applied to JWKS documents; they bound work on untrusted input.
const (
	maxJWKSBytes  = 1 << 20 // 1 MiB
	maxJWKSKeys   = 100     // keys considered; later ones are ignored
	minRSABits    = 2048
	maxRSABits    = 8192
	maxKeyIDBytes = 256
)

type keyType uint8

const (
	ktyRSA keyType = iota + 1
	ktyEC
	ktyOKP
	ktyOct
)

// key is one parsed, validated verification key.
type key struct {
	kid    string
	kty    keyType
	alg    *algInfo // from the JWK's alg; nil = any algorithm fitting kty (and curve)
	curve  *algInfo // EC: the ES algorithm of the key's curve
	rsa    *rsa.PublicKey
	ec     *ecdsa.PublicKey
	ed     ed25519.PublicKey
	secret []byte
	fast   any // optional precomputed fast-path verifier (see fast*.go)
}

// fits reports whether the key may verify a token signed with a (kty/alg agreement).
func (k *key) fits(a *algInfo) bool {
	if k.alg != nil && k.alg != a {
		return false
	}
	switch a.fam {
	case famRSA, famPSS:
		return k.kty == ktyRSA
	case famEC:
		return k.kty == ktyEC && k.curve == a
	case famEd:
		return k.kty == ktyOKP
	case famHMAC:
		return k.kty == ktyOct
	}
	return false
}

// KeySet is an immutable set of parsed verification keys. Keys are parsed and
// validated once (per JWKS version), so Verify does no key parsing. Under wasm,
// parsing also precomputes per-key data for the 32-bit verification paths: a few
// hundred bytes per RSA key, and a 61 KiB comb table per P-256 key (about 8-16 ms
// to build inside wazero), so parse a JWKS once per version and share the KeySet.
type KeySet struct {
	keys    []*key
	skipped []string // why keys were skipped, for diagnostics
}

// Len returns the number of usable keys.
func (s *KeySet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.keys)
}

// KeyIDs returns the kids of the usable keys in document order, without duplicates
// ("" for keys without a kid).
func (s *KeySet) KeyIDs() []string {
	if s == nil {
		return nil
	}
	seen := make(map[string]bool, len(s.keys))
	ids := make([]string, 0, len(s.keys))
	for _, k := range s.keys {
		if !seen[k.kid] {
			seen[k.kid] = true
			ids = append(ids, k.kid)
		}
	}
	return ids
}

// Skipped returns a short explanation for every JWK that ParseJWKS ignored
// (encryption keys, unknown key types, invalid or too-weak keys), in document order.
func (s *KeySet) Skipped() []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s.skipped...)
}

// NewHMACKeySet returns a key set holding one shared secret for HS256/384/512. It is
// the only way an HMAC key comes to exist: JWKS "oct" keys are never used, so a public
// key can never be turned into an HMAC secret (algorithm confusion). kid may be "" to
// match tokens without a kid. The secret is copied. Secrets shorter than the hash
// output (RFC 7518 section 3.2) are refused at verification time.
func NewHMACKeySet(kid string, secret []byte) *KeySet {
	return &KeySet{keys: []*key{{kid: kid, kty: ktyOct, secret: append([]byte(nil), secret...)}}}
}

// ParseJWKS parses a JSON Web Key Set (RFC 7517) into verification keys. It keeps
// RSA (>= 2048 bits), EC (P-256/384/521, point validated) and OKP Ed25519 keys meant
// for signatures, and skips, without failing, keys with use "enc", encryption or
// unknown algorithms, unknown key types or curves, "oct" keys and invalid keys.
// Keys with the same kid are all kept in document order and tried in that order.
// A set without any usable key yields ErrNoUsableKey.
func ParseJWKS(data []byte) (*KeySet, error) {
	if len(data) > maxJWKSBytes {
		return nil, wrap(ErrTooLarge, "JWKS larger than "+strconv.Itoa(maxJWKSBytes)+" bytes")
	}
	if err := checkJSONObject(data); err != nil {
		return nil, wrap(ErrMalformed, "JWKS: "+err.Error())
	}
	root := gjson.ParseBytes(data)
	ks := root.Get("keys")
	if !ks.IsArray() {
		return nil, wrap(ErrMalformed, `JWKS has no "keys" array`)
	}
	set := &KeySet{}
	n := 0
	ks.ForEach(func(_, v gjson.Result) bool {
		n++
		if n > maxJWKSKeys {
			set.skipped = append(set.skipped, "keys beyond the first "+strconv.Itoa(maxJWKSKeys)+" ignored")
			return false
		}
		k, why := parseJWK(v)
		if k == nil {
			set.skipped = append(set.skipped, "key "+strconv.Itoa(n-1)+": "+why)
			return true
		}
		set.keys = append(set.keys, k)
		return true
	})
	if len(set.keys) == 0 {
		msg := "JWKS has no RSA, EC or Ed25519 signature key"
		for i, s := range set.skipped {
			if i == 3 {
				msg += "; ..."
				break
			}
			msg += "; " + s
		}
		return nil, wrap(ErrNoUsableKey, msg)
	}
	return set, nil
}

// parseJWK returns the key, or nil and why it was skipped.
func parseJWK(v gjson.Result) (*key, string) {
	if !v.IsObject() {
		return nil, "not a JSON object"
	}
	str := func(name string) (string, bool) {
		r := v.Get(name)
		if !r.Exists() {
			return "", true
		}
		if r.Type != gjson.String {
			return "", false
		}
		return r.Str, true
	}
	kty, ok := str("kty")
	if !ok || kty == "" {
		return nil, "missing kty"
	}
	use, ok := str("use")
	if !ok || (use != "" && use != "sig") {
		return nil, "use " + quote(use) + " is not sig"
	}
	if ops := v.Get("key_ops"); ops.Exists() {
		verify := false
		if ops.IsArray() {
			ops.ForEach(func(_, o gjson.Result) bool {
				if o.Type == gjson.String && o.Str == "verify" {
					verify = true
				}
				return !verify
			})
		}
		if !verify {
			return nil, `key_ops lacks "verify"`
		}
	}
	kid, ok := str("kid")
	if !ok || len(kid) > maxKeyIDBytes {
		return nil, "invalid kid"
	}
	algName, ok := str("alg")
	if !ok {
		return nil, "invalid alg"
	}
	k := &key{kid: kid}
	if algName != "" {
		k.alg = lookupAlg(algName)
		if k.alg == nil {
			return nil, "alg " + quote(algName) + " is not a supported signature algorithm"
		}
		if k.alg.fam == famHMAC {
			return nil, "HMAC keys are only accepted through NewHMACKeySet"
		}
	}
	b64field := func(name string) ([]byte, bool) {
		s, ok := str(name)
		if !ok || s == "" {
			return nil, false
		}
		return decodeB64(s)
	}
	switch kty {
	case "RSA":
		k.kty = ktyRSA
		if k.alg != nil && k.alg.fam != famRSA && k.alg.fam != famPSS {
			return nil, "alg " + algName + " does not fit kty RSA"
		}
		nb, ok1 := b64field("n")
		eb, ok2 := b64field("e")
		if !ok1 || !ok2 {
			return nil, "RSA key with missing or invalid n/e"
		}
		pub, why := rsaPublicKey(nb, eb)
		if pub == nil {
			return nil, why
		}
		k.rsa = pub
	case "EC":
		k.kty = ktyEC
		crv, _ := str("crv")
		k.curve = algForCurve(crv)
		if k.curve == nil {
			return nil, "unsupported EC curve " + quote(crv)
		}
		if k.alg != nil && k.alg != k.curve {
			return nil, "alg " + algName + " does not fit curve " + crv
		}
		x, ok1 := b64field("x")
		y, ok2 := b64field("y")
		if !ok1 || !ok2 || len(x) != k.curve.size || len(y) != k.curve.size {
			return nil, "EC key with missing or wrong-size x/y"
		}
		pt := make([]byte, 0, 1+2*k.curve.size)
		pt = append(pt, 4)
		pt = append(pt, x...)
		pt = append(pt, y...)
		pub, err := ecdsa.ParseUncompressedPublicKey(k.curve.curve, pt)
		if err != nil {
			return nil, "EC point is not on curve " + crv
		}
		k.ec = pub
	case "OKP":
		k.kty = ktyOKP
		crv, _ := str("crv")
		if crv != "Ed25519" {
			return nil, "unsupported OKP curve " + quote(crv)
		}
		if k.alg != nil && k.alg.fam != famEd {
			return nil, "alg " + algName + " does not fit OKP"
		}
		x, ok := b64field("x")
		if !ok || len(x) != ed25519.PublicKeySize {
			return nil, "Ed25519 key with missing or wrong-size x"
		}
		k.ed = ed25519.PublicKey(x)
	case "oct":
		return nil, "oct keys are only accepted through NewHMACKeySet"
	default:
		return nil, "unsupported kty " + quote(kty)
	}
	prepareFast(k)
	return k, ""
}

func rsaPublicKey(nb, eb []byte) (*rsa.PublicKey, string) {
	for len(nb) > 0 && nb[0] == 0 {
		nb = nb[1:]
	}
	for len(eb) > 0 && eb[0] == 0 {
		eb = eb[1:]
	}
	n := new(big.Int).SetBytes(nb)
	bits := n.BitLen()
	if bits < minRSABits {
		return nil, "RSA key of " + strconv.Itoa(bits) + " bits is under " + strconv.Itoa(minRSABits)
	}
	if bits > maxRSABits {
		return nil, "RSA key of " + strconv.Itoa(bits) + " bits is over " + strconv.Itoa(maxRSABits)
	}
	if n.Bit(0) == 0 {
		return nil, "RSA modulus is even"
	}
	if len(eb) == 0 || len(eb) > 4 {
		return nil, "RSA exponent out of range"
	}
	e := 0
	for _, b := range eb {
		e = e<<8 | int(b)
	}
	if e < 3 || e&1 == 0 || e > 1<<31-1 {
		return nil, "RSA exponent out of range"
	}
	return &rsa.PublicKey{N: n, E: e}, ""
}
