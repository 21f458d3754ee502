package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"math/big"
	"strconv"
)

// SigningKey is a private key with its JWS algorithm and key id, for the dev issuer
// and tests. Key is *rsa.PrivateKey (RS*, PS*), *ecdsa.PrivateKey (ES*, matching
// curve), ed25519.PrivateKey (EdDSA) or []byte (HS*).
type SigningKey struct {
	Alg   string
	KeyID string
	Key   any
}

var errKeyType = errors.New("jwt: signing key type does not fit its algorithm")

// Sign returns a compact JWS over claims (a JSON object, checked like a verified
// payload: no duplicate keys). headerTyp "" means "JWT".
func Sign(key SigningKey, claims []byte, headerTyp string) (string, error) {
	a := lookupAlg(key.Alg)
	if a == nil {
		return "", wrap(ErrAlgorithm, "cannot sign with alg "+strconv.Quote(key.Alg))
	}
	if err := checkJSONObject(claims); err != nil {
		return "", wrap(ErrMalformed, "claims: "+err.Error())
	}
	if headerTyp == "" {
		headerTyp = "JWT"
	}
	var h []byte
	h = append(h, `{"alg":`...)
	h = appendJSONString(h, a.name)
	if key.KeyID != "" {
		h = append(h, `,"kid":`...)
		h = appendJSONString(h, key.KeyID)
	}
	h = append(h, `,"typ":`...)
	h = appendJSONString(h, headerTyp)
	h = append(h, '}')
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(claims)
	sig, err := signInput(key, a, input)
	if err != nil {
		return "", err
	}
	return input + "." + b64.EncodeToString(sig), nil
}

func signInput(key SigningKey, a *algInfo, input string) ([]byte, error) {
	var buf [64]byte
	var digest []byte
	if a.fam != famEd && a.fam != famHMAC {
		digest = hashInput(a.hash, input, buf[:0])
	}
	switch a.fam {
	case famRSA, famPSS:
		k, ok := key.Key.(*rsa.PrivateKey)
		if !ok {
			return nil, errKeyType
		}
		if a.fam == famRSA {
			return rsa.SignPKCS1v15(rand.Reader, k, a.hash, digest)
		}
		return rsa.SignPSS(rand.Reader, k, a.hash, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case famEC:
		k, ok := key.Key.(*ecdsa.PrivateKey)
		if !ok || k.Curve != a.curve {
			return nil, errKeyType
		}
		r, s, err := ecdsa.Sign(rand.Reader, k, digest)
		if err != nil {
			return nil, err
		}
		out := make([]byte, 2*a.size)
		r.FillBytes(out[:a.size])
		s.FillBytes(out[a.size:])
		return out, nil
	case famEd:
		k, ok := key.Key.(ed25519.PrivateKey)
		if !ok || len(k) != ed25519.PrivateKeySize {
			return nil, errKeyType
		}
		return ed25519.Sign(k, []byte(input)), nil
	case famHMAC:
		k, ok := key.Key.([]byte)
		if !ok {
			return nil, errKeyType
		}
		if len(k) < a.size {
			return nil, wrap(ErrAlgorithm, a.name+" needs a secret of at least "+strconv.Itoa(a.size)+" bytes")
		}
		m := hmac.New(a.hash.New, k)
		m.Write([]byte(input))
		return m.Sum(nil), nil
	}
	return nil, errKeyType
}

// PublicJWK returns the public JWK (with kid, alg and use "sig") of key. HMAC
// secrets have no public form and give an error.
func PublicJWK(key SigningKey) ([]byte, error) {
	a := lookupAlg(key.Alg)
	if a == nil {
		return nil, wrap(ErrAlgorithm, "unknown alg "+strconv.Quote(key.Alg))
	}
	var j []byte
	field := func(name, val string) {
		j = append(j, ',')
		j = appendJSONString(j, name)
		j = append(j, ':')
		j = appendJSONString(j, val)
	}
	j = append(j, `{"use":"sig"`...)
	field("alg", a.name)
	if key.KeyID != "" {
		field("kid", key.KeyID)
	}
	switch a.fam {
	case famRSA, famPSS:
		k, ok := key.Key.(*rsa.PrivateKey)
		if !ok {
			return nil, errKeyType
		}
		field("kty", "RSA")
		field("n", b64.EncodeToString(k.N.Bytes()))
		field("e", b64.EncodeToString(big.NewInt(int64(k.E)).Bytes()))
	case famEC:
		k, ok := key.Key.(*ecdsa.PrivateKey)
		if !ok || k.Curve != a.curve {
			return nil, errKeyType
		}
		pt, err := k.PublicKey.Bytes() // 0x04 || X || Y
		if err != nil {
			return nil, err
		}
		field("kty", "EC")
		field("crv", k.Curve.Params().Name)
		field("x", b64.EncodeToString(pt[1:1+a.size]))
		field("y", b64.EncodeToString(pt[1+a.size:]))
	case famEd:
		k, ok := key.Key.(ed25519.PrivateKey)
		if !ok || len(k) != ed25519.PrivateKeySize {
			return nil, errKeyType
		}
		field("kty", "OKP")
		field("crv", "Ed25519")
		field("x", b64.EncodeToString(k.Public().(ed25519.PublicKey)))
	default:
		return nil, wrap(ErrAlgorithm, "HMAC secrets have no public JWK; share them out of band")
	}
	return append(j, '}'), nil
}

// JWKS returns {"keys":[...]} with the public JWKs of keys.
func JWKS(keys ...SigningKey) ([]byte, error) {
	out := []byte(`{"keys":[`)
	for i, k := range keys {
		j, err := PublicJWK(k)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, j...)
	}
	return append(out, "]}"...), nil
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	const hexd = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexd[c>>4], hexd[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
