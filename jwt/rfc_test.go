package jwt

import (
	"errors"
	"testing"
	"time"
)

// Test vectors from RFC 7515 appendix A (JWS examples) and RFC 8037 appendix A.4
// (Ed25519). The keys and tokens are quoted from the RFCs.
const (
	rfc7515Payload64 = "eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	rfc7515HS256     = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9." + rfc7515Payload64 + ".dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
	rfc7515HS256Key  = "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"
	rfc7515RS256     = "eyJhbGciOiJSUzI1NiJ9." + rfc7515Payload64 + ".cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw"
	rfc7515RSAJWKS   = `{"keys":[{"kty":"RSA","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ","e":"AQAB"}]}`
	rfc7515ES256     = "eyJhbGciOiJFUzI1NiJ9." + rfc7515Payload64 + ".DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q"
	rfc7515ECJWKS    = `{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`
	rfc7515ES512     = "eyJhbGciOiJFUzUxMiJ9.UGF5bG9hZA.AdwMgeerwtHoh-l192l60hp9wAHZFVJbLfD_UxMi70cwnZOYaRI1bKPWROc-mZZqwqT2SI-KGDKB34XO0aw_7XdtAG8GaSwFKdCAPZgoXD2YBJZCPEX3xKpRwcdOO8KpEHwJjyqOgzDO7iKvU8vcnwNrmxYbSW9ERBXukOXolLzeO_Jn"
	rfc7515P521JWKS  = `{"keys":[{"kty":"EC","crv":"P-521","x":"AekpBQ8ST8a8VcfVOTNl353vSrDCLLJXmPk06wTjxrrjcBpXp5EOnYG_NjFZ6OvLFV1jSfS9tsz4qUxcWceqwQGk","y":"ADSmRA43Z1DSNx_RvcLI87cdL07l6jQyyBXMoxVg_l2Th-x3S1WDhjDly79ajL4Kkd0AZMaZmh9ubmf63e3kyMj2"}]}`
	rfc8037EdDSA     = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
	rfc8037JWKS      = `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`
)

// rfcNow is just before the RFC 7515 example's exp (1300819380).
var rfcNow = time.Unix(1300819000, 0)

func TestRFC7515Vectors(t *testing.T) {
	secret, ok := decodeB64(rfc7515HS256Key)
	if !ok {
		t.Fatal("bad key")
	}
	tests := []struct {
		name  string
		token string
		keys  *KeySet
	}{
		{"A.1 HS256", rfc7515HS256, NewHMACKeySet("", secret)},
		{"A.2 RS256", rfc7515RS256, mustJWKS(t, rfc7515RSAJWKS)},
		{"A.3 ES256", rfc7515ES256, mustJWKS(t, rfc7515ECJWKS)},
	}
	v, err := NewVerifier(Options{Algorithms: []string{"HS256", "RS256", "ES256"}, Issuers: []string{"joe"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := v.Verify(tc.token, tc.keys, rfcNow)
			if err != nil {
				t.Fatal(err)
			}
			if tok.Claims.Issuer != "joe" || tok.Claims.ExpiresAt.Unix() != 1300819380 {
				t.Errorf("claims = %+v", tok.Claims)
			}
			if s, ok := tok.Claims.String(`http://example\.com/is_root`); !ok || s != "true" {
				t.Errorf("is_root = %q, %v", s, ok)
			}
			// The RFC's exp is in 2011: at the real clock it must be expired.
			if _, err := v.Verify(tc.token, tc.keys, rfcNow.Add(time.Hour)); !errors.Is(err, ErrExpired) {
				t.Errorf("after exp: %v", err)
			}
		})
	}
}

// TestRFCNonJWTVectors checks signatures whose payload is not a claims set (RFC 7515
// A.4 ES512, RFC 8037 A.4 Ed25519): the signature verifies, Verify then refuses the
// payload as malformed.
func TestRFCNonJWTVectors(t *testing.T) {
	tests := []struct {
		name, token, jwks, alg string
	}{
		{"RFC 7515 A.4 ES512", rfc7515ES512, rfc7515P521JWKS, "ES512"},
		{"RFC 8037 A.4 EdDSA", rfc8037EdDSA, rfc8037JWKS, "EdDSA"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys := mustJWKS(t, tc.jwks)
			p, err := parseCompact(tc.token, DefaultMaxHeaderBytes)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyWithKeys(keys, lookupAlg(tc.alg), &p); err != nil {
				t.Fatalf("signature: %v", err)
			}
			p.sig[5] ^= 0x40
			if err := verifyWithKeys(keys, lookupAlg(tc.alg), &p); !errors.Is(err, ErrSignature) {
				t.Fatalf("tampered signature: %v", err)
			}
			v, _ := NewVerifier(Options{Algorithms: []string{tc.alg}})
			if _, err := v.Verify(tc.token, keys, rfcNow); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify: %v, want ErrMalformed (payload is not JSON)", err)
			}
		})
	}
}

func mustJWKS(t testing.TB, s string) *KeySet {
	t.Helper()
	k, err := ParseJWKS([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return k
}
