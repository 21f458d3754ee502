package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha512"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unsafe"
)

// Defaults for Options size limits.
const (
	// DefaultMaxTokenBytes bounds the whole compact token when Options.MaxTokenBytes is 0.
	DefaultMaxTokenBytes = 16 << 10
	// DefaultMaxHeaderBytes bounds the decoded JOSE header when Options.MaxHeaderBytes is 0.
	DefaultMaxHeaderBytes = 4 << 10
	// maxKeyCandidates bounds how many keys one token may make us try.
	maxKeyCandidates = 4
)

// Options configures a Verifier. The zero value is not usable: Algorithms is required.
type Options struct {
	// Algorithms is the allow-list of JWS algorithms (e.g. "RS256", "ES256"). Required;
	// "none" is refused. HS* additionally needs a key set from NewHMACKeySet.
	Algorithms []string
	// Issuers are the accepted iss values (an issuer and its aliases); empty = not checked.
	Issuers []string
	// Audiences are the accepted aud values (any-of); empty = not checked.
	Audiences []string
	// TokenTypes are the accepted Keycloak `typ` claim values (case-insensitive). nil
	// means {"Bearer"} plus tokens without a typ claim; list "" to accept a missing typ.
	TokenTypes []string
	// ClockSkew is the leeway applied to exp, nbf and iat.
	ClockSkew time.Duration
	// AllowMissingExpiration accepts tokens without exp (not recommended).
	AllowMissingExpiration bool
	// MaxLifetime bounds exp-iat (exp-now when iat is absent); 0 = no bound.
	MaxLifetime time.Duration
	// MaxTokenBytes bounds the compact token; 0 = DefaultMaxTokenBytes.
	MaxTokenBytes int
	// MaxHeaderBytes bounds the decoded JOSE header; 0 = DefaultMaxHeaderBytes.
	MaxHeaderBytes int
}

// Verifier checks tokens against a fixed policy. It is immutable and safe for
// concurrent use.
type Verifier struct {
	allowed     [len(algs)]bool
	issuers     []string
	audiences   []string
	tokenTypes  []string
	allowNoTyp  bool
	skew        time.Duration
	allowNoExp  bool
	maxLifetime time.Duration
	maxToken    int
	maxHeader   int
}

// NewVerifier validates opts and returns a Verifier. It fails with ErrAlgorithm when
// the allow-list is empty, names "none" or names an algorithm this package lacks.
func NewVerifier(opts Options) (*Verifier, error) {
	v := &Verifier{
		issuers:     append([]string(nil), opts.Issuers...),
		audiences:   append([]string(nil), opts.Audiences...),
		skew:        opts.ClockSkew,
		allowNoExp:  opts.AllowMissingExpiration,
		maxLifetime: opts.MaxLifetime,
		maxToken:    opts.MaxTokenBytes,
		maxHeader:   opts.MaxHeaderBytes,
	}
	if len(opts.Algorithms) == 0 {
		return nil, wrap(ErrAlgorithm, `Options.Algorithms is empty; list the issuer's algorithms, e.g. ["RS256"]`)
	}
	for _, name := range opts.Algorithms {
		if strings.EqualFold(name, "none") {
			return nil, wrap(ErrAlgorithm, `"none" is never accepted; remove it from Options.Algorithms`)
		}
		a := lookupAlg(name)
		if a == nil {
			return nil, wrap(ErrAlgorithm, "unsupported algorithm "+strconv.Quote(name)+"; use RS256/384/512, PS256/384/512, ES256/384/512, EdDSA or HS256/384/512")
		}
		v.allowed[algIndex(a)] = true
	}
	if opts.ClockSkew < 0 || opts.MaxLifetime < 0 || opts.MaxTokenBytes < 0 || opts.MaxHeaderBytes < 0 {
		return nil, wrap(ErrMalformed, "negative ClockSkew, MaxLifetime or size limit in Options")
	}
	if opts.TokenTypes == nil {
		v.tokenTypes = []string{"Bearer"}
		v.allowNoTyp = true
	} else {
		for _, t := range opts.TokenTypes {
			if t == "" {
				v.allowNoTyp = true
			} else {
				v.tokenTypes = append(v.tokenTypes, t)
			}
		}
	}
	if v.maxToken == 0 {
		v.maxToken = DefaultMaxTokenBytes
	}
	if v.maxHeader == 0 {
		v.maxHeader = DefaultMaxHeaderBytes
	}
	return v, nil
}

func algIndex(a *algInfo) int {
	for i := range algs {
		if &algs[i] == a {
			return i
		}
	}
	return -1
}

// Header holds the JOSE header parameters the verifier uses.
type Header struct {
	Alg, Kid, Typ string
}

// Token is a verified token. Treat it as read-only: the Cache shares it.
type Token struct {
	Header Header
	Claims *Claims
	// Memo is for the caller: data it derives from the verified token once (a filter's
	// identity headers, say). It travels with the token through the Cache; this package never
	// reads it.
	Memo any
}

// Verify parses token (JWS compact serialization), selects the key by kid and
// kty/alg agreement, checks the signature and then the claims at time now.
// An unknown kid gives ErrUnknownKey (the caller may refetch the JWKS and retry).
func (v *Verifier) Verify(token string, keys *KeySet, now time.Time) (*Token, error) {
	if len(token) > v.maxToken {
		return nil, wrap(ErrTooLarge, "token is "+strconv.Itoa(len(token))+" bytes, limit "+strconv.Itoa(v.maxToken))
	}
	p, err := parseCompact(token, v.maxHeader)
	if err != nil {
		return nil, err
	}
	a := lookupAlg(p.header.Alg)
	if a == nil || !v.allowed[algIndex(a)] {
		return nil, wrap(ErrAlgorithm, "alg "+quote(p.header.Alg)+" is not in the allow-list")
	}
	if err := checkHeaderType(p.header.Typ); err != nil {
		return nil, err
	}
	if err := verifyWithKeys(keys, a, &p); err != nil {
		return nil, err
	}
	if p.body == nil {
		return nil, wrap(ErrMalformed, "payload is not unpadded base64url")
	}
	out := new(verified)
	if err := out.claims.parse(p.body, out.aud[:0]); err != nil {
		return nil, err
	}
	if err := v.checkClaims(&out.claims, now); err != nil {
		return nil, err
	}
	out.tok.Header = p.header
	out.tok.Claims = &out.claims
	return &out.tok, nil
}

// compact is a JWS compact token split into its parts, header decoded.
type compact struct {
	header  Header
	input   string // signing input: header "." payload
	payload string // base64url payload
	body    []byte // decoded payload; nil when payload is not strict base64url
	sig     []byte
	digest  []byte // room for the hash of input (len 0, cap 64)
}

// parseCompact splits and checks the token structure and the JOSE header. The
// payload is base64url-decoded here too (one walk, and one allocation for all three
// parts), but it is only parsed as JSON after the signature has been verified. A
// payload in the base64url alphabet that does not decode strictly (length, trailing
// bits) leaves body nil and is reported by Verify after the signature check, as
// before the decode moved here.
func parseCompact(token string, maxHeader int) (compact, error) {
	var p compact
	d1 := strings.IndexByte(token, '.')
	if d1 < 0 {
		return p, wrap(ErrMalformed, "token has 1 segment, want 3 (header.payload.signature)")
	}
	d2 := strings.IndexByte(token[d1+1:], '.')
	if d2 < 0 {
		return p, wrap(ErrMalformed, "token has 2 segments, want 3 (header.payload.signature)")
	}
	d2 += d1 + 1
	if strings.IndexByte(token[d2+1:], '.') >= 0 {
		return p, wrap(ErrMalformed, "token has more than 3 segments (JWE or junk); want a JWS")
	}
	h64, p64, s64 := token[:d1], token[d1+1:d2], token[d2+1:]
	if h64 == "" || p64 == "" {
		return p, wrap(ErrMalformed, "empty header or payload segment")
	}
	if s64 == "" {
		return p, wrap(ErrMalformed, "empty signature (unsecured JWS is never accepted)")
	}
	if len(h64) > (maxHeader*4+2)/3 {
		return p, wrap(ErrTooLarge, "header larger than "+strconv.Itoa(maxHeader)+" bytes")
	}
	// One buffer: payload, header, signature and room for the digest, each capped so
	// an append to one cannot write into the next. Claims.raw keeps the buffer (and so
	// the header, signature and digest bytes, a few hundred bytes) alive as long as
	// the claims. (A digest array on the stack would escape through the stdlib
	// verifiers: one more allocation.)
	// (A length with n%4 == 1 fails in decodeB64Into before out is touched.)
	np, nh, ns := b64DecodedLen(len(p64)), b64DecodedLen(len(h64)), b64DecodedLen(len(s64))
	buf := make([]byte, np+nh+ns+64)
	body, ok := decodeB64Into(buf[:np:np], p64)
	if !ok {
		if !isB64URL(p64) {
			return p, wrap(ErrMalformed, "payload is not unpadded base64url")
		}
		body = nil
	}
	hdr, ok := decodeB64Into(buf[np:np+nh:np+nh], h64)
	if !ok {
		return p, wrap(ErrMalformed, "header is not unpadded base64url")
	}
	sig, ok := decodeB64Into(buf[np+nh:np+nh+ns:np+nh+ns], s64)
	if !ok {
		return p, wrap(ErrMalformed, "signature is not unpadded base64url")
	}
	h, err := parseHeader(hdr)
	if err != nil {
		return p, err
	}
	p.header = h
	p.input = token[:d2]
	p.payload = p64
	p.body = body
	p.sig = sig
	p.digest = buf[np+nh+ns : np+nh+ns : np+nh+ns+64]
	return p, nil
}

// parseHeader reads alg, kid and typ and rejects what we cannot honour. Key material
// the token carries (jwk, jku, x5u, x5c, x5t) is ignored: keys only come from the KeySet.
func parseHeader(data []byte) (Header, error) {
	var h Header
	hasAlg := false
	var keyBuf [16]keyRef
	ks := keyStack{refs: keyBuf[:0]}
	s, err := newJSONScanner(data)
	if err != nil {
		return h, wrap(ErrMalformed, "header: "+err.Error())
	}
	var m jsonMember
	for {
		more, err := s.next(&ks, &m)
		if !more {
			if err != nil {
				return h, wrap(ErrMalformed, "header: "+err.Error())
			}
			break
		}
		raw := data[m.vStart:m.vEnd]
		var dst *string
		switch m.fp {
		case fpAlg:
			hasAlg = true
			dst = &h.Alg
		case fpKid:
			dst = &h.Kid
		case fpTyp:
			dst = &h.Typ
		case fpCrit:
			return h, wrap(ErrCrit, "header crit names extensions this verifier does not support")
		case fpB64:
			if string(raw) != "true" {
				return h, wrap(ErrCrit, "header b64 must be absent or true (RFC 7797 unencoded payloads are refused)")
			}
			continue
		case fpZip:
			return h, wrap(ErrMalformed, "header zip is not allowed in a JWS")
		default:
			continue
		}
		if raw[0] != '"' {
			return h, wrap(ErrMalformed, "header "+m.key(data)+" is not a string")
		}
		*dst = m.str(data)
	}
	if !hasAlg {
		return h, wrap(ErrMalformed, "header has no alg")
	}
	return h, nil
}

// checkHeaderType accepts JWTs and RFC 9068 access tokens; other typ values (logout
// tokens, DPoP proofs, security events) are not access tokens.
func checkHeaderType(typ string) error {
	if typ == "" {
		return nil
	}
	t := typ
	if len(t) > 12 && strings.EqualFold(t[:12], "application/") {
		t = t[12:]
	}
	if strings.EqualFold(t, "JWT") || strings.EqualFold(t, "at+jwt") {
		return nil
	}
	return wrap(ErrTokenType, "header typ "+quote(typ)+" is not JWT or at+jwt")
}

// verifyWithKeys picks candidate keys and checks the signature. Keys whose kid equals
// the token's kid are tried first; keys without a kid are the fallback. At most
// maxKeyCandidates keys are tried.
func verifyWithKeys(keys *KeySet, a *algInfo, p *compact) error {
	if keys == nil || len(keys.keys) == 0 {
		return wrap(ErrUnknownKey, "empty key set")
	}
	if err := checkSigShape(a, p.sig); err != nil {
		return err
	}
	var d []byte // hashed lazily: tokens with an unknown kid cost no hashing
	tokKid := p.header.Kid
	tried, kidSeen := 0, false
	var misfit *key
search:
	for pass := 0; pass < 2; pass++ {
		if pass == 1 && (tokKid == "" || kidSeen) {
			break
		}
		for _, k := range keys.keys {
			if tokKid != "" {
				// A shared secret configured without a kid (NewHMACKeySet("", ...)) matches
				// any kid; JWKS keys without a kid are only a fallback.
				wildcard := k.kty == ktyOct && k.kid == ""
				if pass == 0 && k.kid != tokKid && !wildcard || pass == 1 && k.kid != "" {
					continue
				}
				if pass == 0 {
					kidSeen = true
				}
			}
			if !k.fits(a) {
				misfit = k
				continue
			}
			if a.fam == famHMAC && len(k.secret) < a.size {
				return wrap(ErrAlgorithm, a.name+" needs a shared secret of at least "+strconv.Itoa(a.size)+" bytes")
			}
			tried++
			if d == nil && a.fam != famEd && a.fam != famHMAC {
				d = hashInput(a.hash, p.input, p.digest)
			}
			if verifySig(k, a, p.input, d, p.sig) {
				return nil
			}
			if tried >= maxKeyCandidates {
				break search
			}
		}
	}
	if tried == 0 {
		if misfit != nil && (kidSeen || tokKid == "") {
			return wrap(ErrAlgorithm, "alg "+a.name+" does not fit the key's type or algorithm")
		}
		return wrap(ErrUnknownKey, "no key with kid "+quote(p.header.Kid))
	}
	if tokKid != "" && !kidSeen {
		// Only kid-less fallback keys were tried: the kid is unknown, a JWKS refetch may help.
		return wrap(ErrUnknownKey, "no key with kid "+quote(p.header.Kid))
	}
	return wrap(ErrSignature, a.name+" signature does not verify")
}

// checkSigShape rejects signatures of the wrong size before any math.
func checkSigShape(a *algInfo, sig []byte) error {
	switch a.fam {
	case famEC:
		if len(sig) != 2*a.size {
			return wrap(ErrSignature, a.name+" signature must be R||S of "+strconv.Itoa(2*a.size)+" bytes (not DER)")
		}
	case famEd:
		if len(sig) != ed25519.SignatureSize {
			return wrap(ErrSignature, "EdDSA signature must be 64 bytes")
		}
	case famHMAC:
		if len(sig) != a.hash.Size() {
			return wrap(ErrSignature, a.name+" signature has the wrong size")
		}
	}
	return nil
}

// bytesOf views s as bytes without copying; the result must not be modified.
func bytesOf(s string) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

func hashInput(h crypto.Hash, input string, buf []byte) []byte {
	b := bytesOf(input)
	switch h {
	case crypto.SHA256:
		s := sum256(b) // crypto/sha256 natively, an unrolled version under wasm
		return append(buf, s[:]...)
	case crypto.SHA384:
		s := sha512.Sum384(b)
		return append(buf, s[:]...)
	default:
		s := sha512.Sum512(b)
		return append(buf, s[:]...)
	}
}

func verifySig(k *key, a *algInfo, input string, digest, sig []byte) bool {
	switch a.fam {
	case famRSA:
		if len(sig) != k.rsa.Size() {
			return false
		}
		if f := fastRSA(k); f != nil {
			return f.verifyPKCS1v15(a.hash, digest, sig)
		}
		return rsa.VerifyPKCS1v15(k.rsa, a.hash, digest, sig) == nil
	case famPSS:
		if len(sig) != k.rsa.Size() {
			return false
		}
		if f := fastRSA(k); f != nil {
			return f.verifyPSS(a.hash, digest, sig)
		}
		return rsa.VerifyPSS(k.rsa, a.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}) == nil
	case famEC:
		if f := fastEC(k); f != nil {
			return f.verify(digest, sig)
		}
		n := a.size
		r := new(big.Int).SetBytes(sig[:n])
		s := new(big.Int).SetBytes(sig[n:])
		return ecdsa.Verify(k.ec, digest, r, s)
	case famEd:
		return ed25519.Verify(k.ed, bytesOf(input), sig)
	case famHMAC:
		m := hmac.New(a.hash.New, k.secret)
		m.Write(bytesOf(input))
		var buf [64]byte
		return hmac.Equal(m.Sum(buf[:0]), sig)
	}
	return false
}
