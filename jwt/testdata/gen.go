//go:build ignore

// gen regenerates the golden fixtures in testdata/golden: test-only private keys,
// the public JWKS, and signed tokens with the verification result each one must give
// at the fixed time in tokens.json. Run it with `go generate ./jwt/` (see doc.go).
// The keys are throwaway test keys; never use them anywhere else.
package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatewarden/gatewarden/jwt"
)

const (
	dir = "testdata/golden"
	now = 1_700_000_000 // 2023-11-14T22:13:20Z, the verification time of every case
)

func main() {
	must := func(err error) {
		if err != nil {
			log.Fatal(err)
		}
	}
	rsaKey := func(name string) *rsa.PrivateKey {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		writeKey(name, k)
		return k
	}
	ecKey := func(name string, c elliptic.Curve) *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(c, rand.Reader)
		must(err)
		writeKey(name, k)
		return k
	}
	r1, r2 := rsaKey("rsa.pem"), rsaKey("rsa2.pem")
	p256, p384, p521 := ecKey("p256.pem", elliptic.P256()), ecKey("p384.pem", elliptic.P384()), ecKey("p521.pem", elliptic.P521())
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	must(err)
	writeKey("ed25519.pem", ed)
	secret := make([]byte, 64)
	_, err = rand.Read(secret)
	must(err)
	must(os.WriteFile(filepath.Join(dir, "hmac.key"), secret, 0o600))

	signers := map[string]jwt.SigningKey{}
	var pub []jwt.SigningKey
	for _, a := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"} {
		signers[a] = jwt.SigningKey{Alg: a, KeyID: "rsa-" + a, Key: r1}
		pub = append(pub, signers[a])
	}
	for a, k := range map[string]jwt.SigningKey{
		"ES256": {Alg: "ES256", KeyID: "ec256", Key: p256},
		"ES384": {Alg: "ES384", KeyID: "ec384", Key: p384},
		"ES512": {Alg: "ES512", KeyID: "ec521", Key: p521},
		"EdDSA": {Alg: "EdDSA", KeyID: "ed", Key: ed},
	} {
		signers[a] = k
	}
	pub = append(pub, signers["ES256"], signers["ES384"], signers["ES512"], signers["EdDSA"])
	for _, a := range []string{"HS256", "HS384", "HS512"} {
		signers[a] = jwt.SigningKey{Alg: a, KeyID: "hmac", Key: secret}
	}
	set, err := jwt.JWKS(pub...)
	must(err)
	must(os.WriteFile(filepath.Join(dir, "jwks.json"), append(set, '\n'), 0o644))

	type tcase struct {
		Name   string `json:"name"`
		Token  string `json:"token"`
		Reason string `json:"reason"` // jwt.Reason of Verify's error; "" = valid
	}
	var cases []tcase
	add := func(name, reason string, k jwt.SigningKey, claims map[string]any, typ string) {
		b, err := json.Marshal(claims)
		must(err)
		tok, err := jwt.Sign(k, b, typ)
		must(err)
		cases = append(cases, tcase{name, tok, reason})
	}
	for _, a := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"} {
		add("valid "+a, "", signers[a], keycloakClaims(), "")
	}
	mod := func(f func(map[string]any)) map[string]any { c := keycloakClaims(); f(c); return c }
	add("rfc9068 at+jwt", "", signers["RS256"], keycloakClaims(), "at+jwt")
	add("expired", "token_expired", signers["RS256"], mod(func(c map[string]any) { c["exp"] = now - 120 }), "")
	add("not yet valid", "token_not_yet_valid", signers["ES256"], mod(func(c map[string]any) { c["nbf"] = now + 600 }), "")
	add("wrong audience", "audience_not_accepted", signers["RS256"], mod(func(c map[string]any) { c["aud"] = "other" }), "")
	add("wrong issuer", "issuer_not_accepted", signers["RS256"], mod(func(c map[string]any) { c["iss"] = "https://evil.example/realms/demo" }), "")
	add("keycloak refresh token", "token_type_not_accepted", signers["RS256"], mod(func(c map[string]any) { c["typ"] = "Refresh" }), "")
	add("keycloak offline token", "token_type_not_accepted", signers["RS256"], mod(func(c map[string]any) { c["typ"] = "Offline" }), "")
	add("keycloak id token", "token_type_not_accepted", signers["RS256"], mod(func(c map[string]any) { c["typ"] = "ID" }), "")
	add("unknown kid", "unknown_key", jwt.SigningKey{Alg: "RS256", KeyID: "rotated", Key: r2}, keycloakClaims(), "")
	add("other key same kid", "invalid_signature", jwt.SigningKey{Alg: "RS256", KeyID: "rsa-RS256", Key: r2}, keycloakClaims(), "")
	add("no exp", "missing_claim", signers["ES256"], mod(func(c map[string]any) { delete(c, "exp") }), "")
	add("lifetime 10h", "lifetime_too_long", signers["ES256"], mod(func(c map[string]any) { c["exp"] = now + 36000 }), "")

	out, err := json.MarshalIndent(map[string]any{"now": now, "cases": cases}, "", "  ")
	must(err)
	must(os.WriteFile(filepath.Join(dir, "tokens.json"), append(out, '\n'), 0o644))
}

// keycloakClaims is shaped like a Keycloak 26 access token (about 1 KB).
func keycloakClaims() map[string]any {
	return map[string]any{
		"exp": now + 300, "iat": now - 60, "auth_time": now - 65,
		"jti":                "onrtac:4b1f4e5e-9a0e-4d5e-8b9c-1f0e2d3c4b5a",
		"iss":                "https://kc.example/realms/demo",
		"aud":                []string{"api", "account"},
		"sub":                "8f2c1e7a-3b4d-4e5f-9a6b-7c8d9e0f1a2b",
		"typ":                "Bearer",
		"azp":                "my-app",
		"sid":                "0c3a5e7f-1b2d-4c6e-8f0a-2b4d6f8a0c2e",
		"acr":                "1",
		"allowed-origins":    []string{"https://app.example"},
		"realm_access":       map[string]any{"roles": []string{"default-roles-demo", "offline_access", "uma_authorization", "admin"}},
		"resource_access":    map[string]any{"my-app": map[string]any{"roles": []string{"reader", "writer"}}, "account": map[string]any{"roles": []string{"manage-account", "manage-account-links", "view-profile"}}},
		"scope":              "openid email profile",
		"email_verified":     true,
		"name":               "Ada Lovelace",
		"preferred_username": "ada",
		"given_name":         "Ada",
		"family_name":        "Lovelace",
		"email":              "ada@example.com",
		"groups":             []string{"/engineering", "/engineering/platform"},
		"tenant":             strings.Repeat("t", 8),
	}
}

func writeKey(name string, k any) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		log.Fatal(err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
		log.Fatal(err)
	}
}
