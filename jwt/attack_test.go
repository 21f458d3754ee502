package jwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
)

// signRaw signs an arbitrary header and payload (raw JSON text, not re-encoded), so
// tests can build tokens no well-behaved signer would produce.
func signRaw(t testing.TB, k SigningKey, header, payload string) string {
	t.Helper()
	input := b64s(header) + "." + b64s(payload)
	sig, err := signInput(k, lookupAlg(k.Alg), input)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

// TestAttacks is the attack table: every row is a known way to fool a JWT library.
func TestAttacks(t *testing.T) {
	k := keys(t)
	good := string(claimsJSON(t, baseClaims()))
	goodES := sign(t, "ES256", baseClaims())
	parts := strings.Split(goodES, ".")
	h64, p64, s64 := parts[0], parts[1], parts[2]
	rsKid := k.signers["RS256"].KeyID
	es := k.signers["ES256"]

	// Algorithm confusion: HMAC keyed with the RSA public key's bytes (PEM and raw n).
	der, _ := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	pemPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	confusePEM := signRaw(t, SigningKey{Alg: "HS256", Key: pemPub}, `{"alg":"HS256","kid":"`+rsKid+`"}`, good)
	confuseN := signRaw(t, SigningKey{Alg: "HS256", Key: k.rsa.N.Bytes()}, `{"alg":"HS256","kid":"`+rsKid+`"}`, good)
	confuseNoKid := signRaw(t, SigningKey{Alg: "HS256", Key: pemPub}, `{"alg":"HS256"}`, good)

	// Attacker-supplied key material in the header.
	evil, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	evilJWK, _ := PublicJWK(SigningKey{Alg: "ES256", Key: evil})
	evilSK := SigningKey{Alg: "ES256", Key: evil}
	embeddedJWK := signRaw(t, evilSK, `{"alg":"ES256","jwk":`+string(evilJWK)+`}`, good)
	embeddedJWKRealKid := signRaw(t, evilSK, `{"alg":"ES256","kid":"ec256","jwk":`+string(evilJWK)+`}`, good)
	jku := signRaw(t, evilSK, `{"alg":"ES256","kid":"evil","jku":"https://evil.example/jwks.json"}`, good)
	x5u := signRaw(t, evilSK, `{"alg":"ES256","kid":"ec256","x5u":"https://evil.example/cert.pem"}`, good)
	x5c := signRaw(t, evilSK, `{"alg":"ES256","kid":"ec256","x5c":["MIIB"]}`, good)
	// Header extras on a correctly signed token are ignored.
	benignJKU := signRaw(t, es, `{"alg":"ES256","kid":"ec256","jku":"https://evil.example/jwks.json","x5c":["MIIB"]}`, good)

	// ECDSA signature encodings.
	r, s := new(big.Int), new(big.Int)
	sigRS, _ := decodeB64(s64)
	r.SetBytes(sigRS[:32])
	s.SetBytes(sigRS[32:])
	derSig, _ := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	derToken := h64 + "." + p64 + "." + b64.EncodeToString(derSig)
	zeroSig := h64 + "." + p64 + "." + b64.EncodeToString(make([]byte, 64))
	n := elliptic.P256().Params().N
	orderSig := h64 + "." + p64 + "." + b64.EncodeToString(append(n.FillBytes(make([]byte, 32)), n.FillBytes(make([]byte, 32))...))
	shortSig := h64 + "." + p64 + "." + b64.EncodeToString(sigRS[:63])
	rsTok := sign(t, "RS256", baseClaims())
	rsSig, _ := decodeB64(rsTok[strings.LastIndexByte(rsTok, '.')+1:])
	rsShort := rsTok[:strings.LastIndexByte(rsTok, '.')+1] + b64.EncodeToString(rsSig[1:])
	rsLong := rsTok[:strings.LastIndexByte(rsTok, '.')+1] + b64.EncodeToString(append([]byte{0}, rsSig...))

	deep := strings.Repeat("[", 1000) + strings.Repeat("]", 1000)
	deepObj := strings.Repeat(`{"a":`, 40) + "1" + strings.Repeat("}", 40)
	withClaim := func(kv string) string { return `{` + kv + `,` + good[1:] }
	signedPayload := func(payload string) string {
		return signRaw(t, es, `{"alg":"ES256","kid":"ec256"}`, payload)
	}
	hdrOnly := func(header string) string { return b64s(header) + "." + p64 + "." + s64 }

	tests := []struct {
		name  string
		token string
		want  error
	}{
		// alg none, every spelling, with and without a signature.
		{"alg none empty sig", b64s(`{"alg":"none"}`) + "." + p64 + ".", ErrMalformed},
		{"alg none with sig", hdrOnly(`{"alg":"none"}`), ErrAlgorithm},
		{"alg None", hdrOnly(`{"alg":"None"}`), ErrAlgorithm},
		{"alg NONE", hdrOnly(`{"alg":"NONE"}`), ErrAlgorithm},
		{"alg nOnE", hdrOnly(`{"alg":"nOnE"}`), ErrAlgorithm},
		{"alg none two segments", b64s(`{"alg":"none"}`) + "." + p64, ErrMalformed},
		{"alg lowercase es256", hdrOnly(`{"alg":"es256","kid":"ec256"}`), ErrAlgorithm},
		{"alg with space", hdrOnly(`{"alg":"ES256 ","kid":"ec256"}`), ErrAlgorithm},
		{"alg missing", hdrOnly(`{"kid":"ec256"}`), ErrMalformed},
		{"alg number", hdrOnly(`{"alg":256}`), ErrMalformed},
		{"alg array", hdrOnly(`{"alg":["ES256"]}`), ErrMalformed},
		{"alg RSA-OAEP", hdrOnly(`{"alg":"RSA-OAEP"}`), ErrAlgorithm},
		// Algorithm confusion.
		{"HS256 keyed with RSA public PEM", confusePEM, ErrAlgorithm},
		{"HS256 keyed with RSA modulus", confuseN, ErrAlgorithm},
		{"HS256 public PEM no kid", confuseNoKid, ErrAlgorithm},
		{"ES256 sig under RSA kid", hdrOnly(`{"alg":"ES256","kid":"` + rsKid + `"}`), ErrAlgorithm},
		// Key material from the token is never trusted.
		{"embedded jwk no kid", embeddedJWK, ErrSignature},
		{"embedded jwk real kid", embeddedJWKRealKid, ErrSignature},
		{"jku to attacker", jku, ErrUnknownKey},
		{"x5u to attacker", x5u, ErrSignature},
		{"x5c from attacker", x5c, ErrSignature},
		{"jku/x5c ignored on good token", benignJKU, nil},
		// kid injection is just an unknown kid.
		{"kid path traversal", hdrOnly(`{"alg":"ES256","kid":"../../../../dev/null"}`), ErrUnknownKey},
		{"kid sql", hdrOnly(`{"alg":"ES256","kid":"' OR '1'='1' --"}`), ErrUnknownKey},
		{"kid empty", hdrOnly(`{"alg":"ES256","kid":""}`), ErrSignature},
		{"kid number", hdrOnly(`{"alg":"ES256","kid":1}`), ErrMalformed},
		{"kid NUL", hdrOnly(`{"alg":"ES256","kid":"ec256\u0000"}`), ErrUnknownKey},
		// Signature encodings.
		{"ES256 DER signature", derToken, ErrSignature},
		{"ES256 r=s=0 (psychic signature)", zeroSig, ErrSignature},
		{"ES256 r=s=n", orderSig, ErrSignature},
		{"ES256 63-byte signature", shortSig, ErrSignature},
		{"RS256 short signature", rsShort, ErrSignature},
		{"RS256 signature with leading zero", rsLong, ErrSignature},
		{"empty signature", h64 + "." + p64 + ".", ErrMalformed},
		// Structure.
		{"one segment", h64, ErrMalformed},
		{"two segments", h64 + "." + p64, ErrMalformed},
		{"four segments", goodES + ".", ErrMalformed},
		{"five segments (JWE)", h64 + ".." + p64 + ".." + s64, ErrMalformed},
		{"empty header", "." + p64 + "." + s64, ErrMalformed},
		{"empty payload", h64 + ".." + s64, ErrMalformed},
		{"padding in header", h64 + "=." + p64 + "." + s64, ErrMalformed},
		{"padding in signature", goodES + "==", ErrMalformed},
		{"newline in payload", h64 + "." + p64[:10] + "\n" + p64[10:] + "." + s64, ErrMalformed},
		{"CR in signature", h64 + "." + p64 + "." + s64[:5] + "\r" + s64[5:], ErrMalformed},
		{"std base64 alphabet", h64 + "." + p64 + "." + strings.NewReplacer("-", "+", "_", "/").Replace(s64) + "+/", ErrMalformed},
		{"non-canonical trailing bits", h64 + "." + p64 + "." + s64[:len(s64)-1] + nonCanonical(s64[len(s64)-1]), ErrMalformed},
		{"leading space", " " + goodES, ErrMalformed},
		{"Bearer prefix left in", "Bearer " + goodES, ErrMalformed},
		{"header not JSON", hdrOnly(`alg=ES256`), ErrMalformed},
		{"header array", hdrOnly(`["ES256"]`), ErrMalformed},
		{"header string", hdrOnly(`"ES256"`), ErrMalformed},
		{"header null", hdrOnly(`null`), ErrMalformed},
		{"header trailing garbage", hdrOnly(`{"alg":"ES256","kid":"ec256"}x`), ErrMalformed},
		{"header two objects", hdrOnly(`{"alg":"ES256"}{"alg":"none"}`), ErrMalformed},
		{"header duplicate alg", hdrOnly(`{"alg":"ES256","kid":"ec256","alg":"none"}`), ErrMalformed},
		{"header escaped duplicate alg", hdrOnly(`{"alg":"ES256","kid":"ec256","\u0061lg":"HS256"}`), ErrMalformed},
		{"header duplicate kid", hdrOnly(`{"alg":"ES256","kid":"ec256","kid":"x"}`), ErrMalformed},
		{"header deep nesting", hdrOnly(`{"alg":"ES256","x":` + deep + `}`), ErrMalformed},
		{"header invalid UTF-8", hdrOnly("{\"alg\":\"ES256\",\"x\":\"\xff\"}"), ErrMalformed},
		{"crit exp", hdrOnly(`{"alg":"ES256","kid":"ec256","crit":["exp"]}`), ErrCrit},
		{"crit empty", hdrOnly(`{"alg":"ES256","kid":"ec256","crit":[]}`), ErrCrit},
		{"b64 false", hdrOnly(`{"alg":"ES256","kid":"ec256","b64":false,"crit":["b64"]}`), ErrCrit},
		{"b64 false without crit", hdrOnly(`{"alg":"ES256","kid":"ec256","b64":false}`), ErrCrit},
		{"zip in JWS", hdrOnly(`{"alg":"ES256","kid":"ec256","zip":"DEF"}`), ErrMalformed},
		// Sizes.
		{"oversize token", h64 + "." + p64 + strings.Repeat("A", DefaultMaxTokenBytes) + "." + s64, ErrTooLarge},
		{"oversize header", b64s(`{"alg":"ES256","x":"`+strings.Repeat("a", DefaultMaxHeaderBytes)+`"}`) + "." + p64 + "." + s64, ErrTooLarge},
		// Payloads (validly signed: the parser itself must hold).
		{"payload duplicate iss", signedPayload(withClaim(`"iss":"https://evil"`)), ErrMalformed},
		{"payload escaped duplicate exp", signedPayload(withClaim(`"\u0065xp":99999999999`)), ErrMalformed},
		{"payload duplicate nested", signedPayload(withClaim(`"x":{"a":1,"a":2}`)), ErrMalformed},
		{"payload huge exp", signedPayload(strings.Replace(good, `"exp":`, `"exp":1e300,"_":`, 1)), ErrMalformed},
		{"payload exp 2^63", signedPayload(strings.Replace(good, `"exp":`, `"exp":9223372036854775808,"_":`, 1)), ErrMalformed},
		{"payload exp string", signedPayload(strings.Replace(good, `"exp":`, `"exp":"1700000300","_":`, 1)), ErrMalformed},
		{"payload exp null", signedPayload(strings.Replace(good, `"exp":`, `"exp":null,"_":`, 1)), ErrMalformed},
		{"payload JSON bomb", signedPayload(withClaim(`"bomb":` + deep)), ErrMalformed},
		{"payload deep objects", signedPayload(withClaim(`"bomb":` + deepObj)), ErrMalformed},
		{"payload array", signedPayload(`[` + good + `]`), ErrMalformed},
		{"payload null", signedPayload(`null`), ErrMalformed},
		{"payload trailing garbage", signedPayload(good + `,`), ErrMalformed},
		{"payload invalid escape", signedPayload(withClaim(`"x":"\x41"`)), ErrMalformed},
		{"payload leading zero number", signedPayload(withClaim(`"x":01`)), ErrMalformed},
		{"payload NaN", signedPayload(withClaim(`"x":NaN`)), ErrMalformed},
		{"payload raw control char", signedPayload(withClaim("\"x\":\"a\tb\"")), ErrMalformed},
		{"payload many keys", signedPayload(withClaim(manyKeys(900))), nil},
		{"payload many keys dup at end", signedPayload(withClaim(manyKeys(900) + `,"k5":1`)), ErrMalformed},
	}
	v := verifier(t, nil)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.token, k.set, testNow)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func nonCanonical(c byte) string {
	// The last char of a 64-byte signature encodes 4 bits plus 2 zero bits; set one.
	i := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", c)
	return string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i|1])
}

func manyKeys(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k`)
		b.WriteString(big.NewInt(int64(i)).String())
		b.WriteString(`":1`)
	}
	return b.String()
}
