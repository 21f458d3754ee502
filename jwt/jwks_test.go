package jwt

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"strings"
	"testing"
)

func TestParseJWKS(t *testing.T) {
	k := keys(t)
	rsaJWK, _ := PublicJWK(k.signers["RS256"])
	ecJWK, _ := PublicJWK(k.signers["ES256"])
	ecNoAlg := strings.Replace(string(ecJWK), `"alg":"ES256",`, "", 1)
	edJWK, _ := PublicJWK(k.signers["EdDSA"])
	p384, _ := PublicJWK(k.signers["ES384"])
	p521, _ := PublicJWK(k.signers["ES512"])
	encKey := strings.Replace(string(rsaJWK), `"use":"sig"`, `"use":"enc"`, 1)
	oaep := strings.Replace(strings.Replace(string(rsaJWK), `"alg":"RS256"`, `"alg":"RSA-OAEP"`, 1), `"use":"sig"`, `"use":"enc"`, 1)
	oaepNoUse := strings.Replace(string(rsaJWK), `"alg":"RS256"`, `"alg":"RSA-OAEP"`, 1)
	// A point off the curve: flip a bit of y.
	offCurve := strings.Replace(string(ecJWK), `"y":"`, `"y":"A`, 1)
	offCurve = offCurve[:strings.Index(offCurve, `"y":"`)+5] + flipFirst(offCurve[strings.Index(offCurve, `"y":"`)+6:])
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	weakJWK, _ := PublicJWK(SigningKey{Alg: "RS256", KeyID: "weak", Key: weak})
	ed448 := `{"kty":"OKP","crv":"Ed448","x":"` + strings.Repeat("A", 76) + `"}`
	oct := `{"kty":"oct","k":"c2VjcmV0","alg":"HS256"}`
	unknownKty := `{"kty":"PQC","alg":"ML-DSA-65","x":"AA"}`
	secp256k1 := `{"kty":"EC","crv":"secp256k1","x":"AA","y":"AA"}`
	ecWrongAlg := strings.Replace(string(ecJWK), `"alg":"ES256"`, `"alg":"ES384"`, 1)
	rsaWithECAlg := strings.Replace(string(rsaJWK), `"alg":"RS256"`, `"alg":"ES256"`, 1)
	keyOpsEnc := strings.Replace(string(rsaJWK), `"use":"sig",`, `"key_ops":["encrypt"],`, 1)
	keyOpsVerify := strings.Replace(string(rsaJWK), `"use":"sig",`, `"key_ops":["verify"],`, 1)
	paddedN := strings.Replace(string(rsaJWK), `"e":"AQAB"`, `"e":"AQAB="`, 1)

	jwks := func(ks ...string) []byte { return []byte(`{"keys":[` + strings.Join(ks, ",") + `]}`) }
	tests := []struct {
		name string
		data []byte
		want error
		n    int
	}{
		{"all generated", k.jwks, nil, 10},
		{"keycloak style: sig + enc", jwks(string(rsaJWK), oaep), nil, 1},
		{"enc only", jwks(encKey), ErrNoUsableKey, 0},
		{"encryption alg without use", jwks(oaepNoUse), ErrNoUsableKey, 0},
		{"EC without alg usable", jwks(ecNoAlg), nil, 1},
		{"P-384 and P-521", jwks(string(p384), string(p521)), nil, 2},
		{"Ed25519", jwks(string(edJWK)), nil, 1},
		{"off curve skipped", jwks(offCurve, string(edJWK)), nil, 1},
		{"off curve only", jwks(offCurve), ErrNoUsableKey, 0},
		{"weak RSA", jwks(string(weakJWK)), ErrNoUsableKey, 0},
		{"unknown kinds skipped", jwks(ed448, oct, unknownKty, secp256k1, string(rsaJWK)), nil, 1},
		{"EC alg/curve mismatch", jwks(ecWrongAlg), ErrNoUsableKey, 0},
		{"RSA with ES alg", jwks(rsaWithECAlg), ErrNoUsableKey, 0},
		{"key_ops encrypt", jwks(keyOpsEnc), ErrNoUsableKey, 0},
		{"key_ops verify", jwks(keyOpsVerify), nil, 1},
		{"padded base64", jwks(paddedN), ErrNoUsableKey, 0},
		{"not a key object", jwks(`"x"`, `1`, `null`), ErrNoUsableKey, 0},
		{"empty keys", []byte(`{"keys":[]}`), ErrNoUsableKey, 0},
		{"no keys", []byte(`{}`), ErrMalformed, 0},
		{"keys not array", []byte(`{"keys":{}}`), ErrMalformed, 0},
		{"not JSON", []byte(`keys`), ErrMalformed, 0},
		{"array top level", []byte(`[` + string(rsaJWK) + `]`), ErrMalformed, 0},
		{"duplicate keys member", []byte(`{"keys":[],"keys":[` + string(rsaJWK) + `]}`), ErrMalformed, 0},
		{"too large", []byte(`{"keys":[],"x":"` + strings.Repeat("a", maxJWKSBytes) + `"}`), ErrTooLarge, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set, err := ParseJWKS(tc.data)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if set.Len() != tc.n {
				t.Fatalf("Len = %d, want %d (skipped %q)", set.Len(), tc.n, set.Skipped())
			}
		})
	}
}

func flipFirst(s string) string {
	if s[0] == 'A' {
		return "B" + s[1:]
	}
	return "A" + s[1:]
}

func TestJWKSDuplicateKidsDeterministic(t *testing.T) {
	k := keys(t)
	a, _ := PublicJWK(SigningKey{Alg: "RS256", KeyID: "dup", Key: k.rsa})
	b, _ := PublicJWK(SigningKey{Alg: "RS256", KeyID: "dup", Key: k.rsa2})
	set, err := ParseJWKS([]byte(`{"keys":[` + string(a) + "," + string(b) + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := set.KeyIDs(); len(got) != 1 || got[0] != "dup" {
		t.Fatalf("KeyIDs = %q", got)
	}
	v := verifier(t, nil)
	for _, pk := range []any{k.rsa, k.rsa2} {
		tok, _ := Sign(SigningKey{Alg: "RS256", KeyID: "dup", Key: pk}, claimsJSON(t, baseClaims()), "")
		if _, err := v.Verify(tok, set, testNow); err != nil {
			t.Errorf("duplicate kid: %v", err)
		}
	}
}

func TestECKeyWithoutAlgByCurve(t *testing.T) {
	k := keys(t)
	j, _ := PublicJWK(k.signers["ES384"])
	noAlg := strings.Replace(string(j), `"alg":"ES384",`, "", 1)
	set, err := ParseJWKS([]byte(`{"keys":[` + noAlg + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	v := verifier(t, nil)
	if _, err := v.Verify(sign(t, "ES384", baseClaims()), set, testNow); err != nil {
		t.Fatal(err)
	}
	// The same key is not usable for ES256 (curve mismatch).
	tok, _ := Sign(SigningKey{Alg: "ES256", KeyID: "ec384", Key: k.p256}, claimsJSON(t, baseClaims()), "")
	if _, err := v.Verify(tok, set, testNow); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("ES256 token vs P-384 key: %v", err)
	}
}
