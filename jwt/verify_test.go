package jwt

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRoundTripAllAlgorithms(t *testing.T) {
	k := keys(t)
	v := verifier(t, nil)
	hset := NewHMACKeySet("hmac", k.hmac)
	for _, alg := range []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "HS256", "HS384", "HS512"} {
		t.Run(alg, func(t *testing.T) {
			tok := sign(t, alg, baseClaims())
			set := k.set
			if strings.HasPrefix(alg, "HS") {
				set = hset
			}
			got, err := v.Verify(tok, set, testNow)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.Header.Alg != alg || got.Header.Kid != k.signers[alg].KeyID || got.Header.Typ != "JWT" {
				t.Errorf("header = %+v", got.Header)
			}
			c := got.Claims
			if c.Issuer != "https://kc.example/realms/demo" || c.Subject != "user-1" || c.AuthorizedParty != "my-app" || c.Type != "Bearer" {
				t.Errorf("claims = %+v", c)
			}
			if len(c.Audience) != 2 || c.Audience[0] != "api" {
				t.Errorf("aud = %v", c.Audience)
			}
			if !c.ExpiresAt.Equal(testNow.Add(300*time.Second)) || !c.IssuedAt.Equal(testNow.Add(-60*time.Second)) || !c.NotBefore.IsZero() {
				t.Errorf("times = %v %v %v", c.ExpiresAt, c.IssuedAt, c.NotBefore)
			}
			// Any flipped signature bit fails.
			sigStart := strings.LastIndexByte(tok, '.') + 1
			raw, _ := decodeB64(tok[sigStart:])
			raw[len(raw)/2] ^= 1
			bad := tok[:sigStart] + b64.EncodeToString(raw)
			if _, err := v.Verify(bad, set, testNow); !errors.Is(err, ErrSignature) {
				t.Errorf("tampered signature: err = %v, want ErrSignature", err)
			}
			// A changed payload fails.
			parts := strings.Split(tok, ".")
			m := baseClaims()
			m["sub"] = "admin"
			forged := parts[0] + "." + b64.EncodeToString(claimsJSON(t, m)) + "." + parts[2]
			if _, err := v.Verify(forged, set, testNow); !errors.Is(err, ErrSignature) {
				t.Errorf("tampered payload: err = %v, want ErrSignature", err)
			}
		})
	}
}

func TestKeySelection(t *testing.T) {
	k := keys(t)
	v := verifier(t, nil)
	other := SigningKey{Alg: "RS256", KeyID: "rsa-RS256", Key: k.rsa2} // same kid, other key
	tokOther, err := Sign(other, claimsJSON(t, baseClaims()), "")
	if err != nil {
		t.Fatal(err)
	}
	noKid := SigningKey{Alg: "ES256", Key: k.p256}
	tokNoKid, _ := Sign(noKid, claimsJSON(t, baseClaims()), "")
	unknownKid := SigningKey{Alg: "ES256", KeyID: "nope", Key: k.p256}
	tokUnknown, _ := Sign(unknownKid, claimsJSON(t, baseClaims()), "")
	// ES256 token whose kid names the RSA key: kty/alg disagreement.
	confused := SigningKey{Alg: "ES256", KeyID: "rsa-RS256", Key: k.p256}
	tokConfused, _ := Sign(confused, claimsJSON(t, baseClaims()), "")
	// HS256 token naming the RSA key's kid, against the JWKS: HMAC keys never come from JWKS.
	hs := SigningKey{Alg: "HS256", KeyID: "rsa-RS256", Key: k.hmac}
	tokHS, _ := Sign(hs, claimsJSON(t, baseClaims()), "")
	// HMAC set with empty kid acts as a wildcard.
	hsAny, _ := Sign(SigningKey{Alg: "HS256", KeyID: "whatever", Key: k.hmac}, claimsJSON(t, baseClaims()), "")

	tests := []struct {
		name  string
		token string
		set   *KeySet
		want  error
	}{
		{"same kid different key", tokOther, k.set, ErrSignature},
		{"no kid tries fitting keys", tokNoKid, k.set, nil},
		{"unknown kid", tokUnknown, k.set, ErrUnknownKey},
		{"kid of RSA key with ES256", tokConfused, k.set, ErrAlgorithm},
		{"HS256 against JWKS", tokHS, k.set, ErrAlgorithm},
		{"HMAC wildcard kid", hsAny, NewHMACKeySet("", k.hmac), nil},
		{"HMAC wrong secret", hsAny, NewHMACKeySet("", []byte(strings.Repeat("x", 40))), ErrSignature},
		{"HMAC short secret", hsAny, NewHMACKeySet("", []byte("short")), ErrAlgorithm},
		{"nil key set", tokNoKid, nil, ErrUnknownKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.token, tc.set, testNow)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAllowList(t *testing.T) {
	k := keys(t)
	v := verifier(t, func(o *Options) { o.Algorithms = []string{"ES256"} })
	if _, err := v.Verify(sign(t, "RS256", baseClaims()), k.set, testNow); !errors.Is(err, ErrAlgorithm) {
		t.Fatalf("RS256 with ES256-only allow-list: %v", err)
	}
	if _, err := v.Verify(sign(t, "ES256", baseClaims()), k.set, testNow); err != nil {
		t.Fatal(err)
	}
	for _, algs := range [][]string{nil, {}, {"none"}, {"RS256", "NONE"}, {"rs256"}, {"RSA-OAEP"}} {
		if _, err := NewVerifier(Options{Algorithms: algs}); !errors.Is(err, ErrAlgorithm) {
			t.Errorf("NewVerifier(%q) err = %v, want ErrAlgorithm", algs, err)
		}
	}
}

func TestClaimsPolicy(t *testing.T) {
	k := keys(t)
	now := testNow.Unix()
	tests := []struct {
		name   string
		mod    func(map[string]any)
		opts   func(*Options)
		hdrTyp string
		want   error
	}{
		{"valid", nil, nil, "", nil},
		{"aud string", func(m map[string]any) { m["aud"] = "api" }, nil, "", nil},
		{"aud other", func(m map[string]any) { m["aud"] = []any{"x", "y"} }, nil, "", ErrAudience},
		{"aud missing", func(m map[string]any) { delete(m, "aud") }, nil, "", ErrAudience},
		{"aud not checked", func(m map[string]any) { delete(m, "aud") }, func(o *Options) { o.Audiences = nil }, "", nil},
		{"aud number", func(m map[string]any) { m["aud"] = 5 }, nil, "", ErrMalformed},
		{"aud array with number", func(m map[string]any) { m["aud"] = []any{"api", 5} }, nil, "", ErrMalformed},
		{"iss wrong", func(m map[string]any) { m["iss"] = "https://evil" }, nil, "", ErrIssuer},
		{"iss missing", func(m map[string]any) { delete(m, "iss") }, nil, "", ErrIssuer},
		{"iss alias", func(m map[string]any) { m["iss"] = "http://kc:8080/realms/demo" },
			func(o *Options) { o.Issuers = append(o.Issuers, "http://kc:8080/realms/demo") }, "", nil},
		{"iss prefix is not enough", func(m map[string]any) { m["iss"] = "https://kc.example/realms/demo/" }, nil, "", ErrIssuer},
		{"iss not string", func(m map[string]any) { m["iss"] = 1 }, nil, "", ErrMalformed},
		{"expired", func(m map[string]any) { m["exp"] = now - 31 }, nil, "", ErrExpired},
		{"expired within skew", func(m map[string]any) { m["exp"] = now - 29 }, nil, "", nil},
		{"exp == now-skew", func(m map[string]any) { m["exp"] = now - 30 }, nil, "", ErrExpired},
		{"exp missing", func(m map[string]any) { delete(m, "exp") }, nil, "", ErrMissingClaim},
		{"exp missing allowed", func(m map[string]any) { delete(m, "exp") }, func(o *Options) { o.AllowMissingExpiration = true }, "", nil},
		{"exp string", func(m map[string]any) { m["exp"] = "9999999999" }, nil, "", ErrMalformed},
		{"exp huge", func(m map[string]any) { m["exp"] = 1e300 }, nil, "", ErrMalformed},
		{"exp negative", func(m map[string]any) { m["exp"] = -1 }, nil, "", ErrMalformed},
		{"exp fractional", func(m map[string]any) { m["exp"] = float64(now) + 0.5 }, nil, "", nil},
		{"nbf future", func(m map[string]any) { m["nbf"] = now + 31 }, nil, "", ErrNotYetValid},
		{"nbf within skew", func(m map[string]any) { m["nbf"] = now + 30 }, nil, "", nil},
		{"iat future", func(m map[string]any) { m["iat"] = now + 31 }, nil, "", ErrIssuedInFuture},
		{"iat within skew", func(m map[string]any) { m["iat"] = now + 20 }, nil, "", nil},
		{"lifetime ok", nil, func(o *Options) { o.MaxLifetime = time.Hour }, "", nil},
		{"lifetime too long", func(m map[string]any) { m["exp"] = now + 7200 }, func(o *Options) { o.MaxLifetime = time.Hour }, "", ErrLifetime},
		{"lifetime no iat uses now", func(m map[string]any) { delete(m, "iat"); m["exp"] = now + 7200 }, func(o *Options) { o.MaxLifetime = time.Hour }, "", ErrLifetime},
		{"lifetime no exp", func(m map[string]any) { delete(m, "exp") }, func(o *Options) { o.MaxLifetime = time.Hour; o.AllowMissingExpiration = true }, "", ErrLifetime},
		{"typ Refresh", func(m map[string]any) { m["typ"] = "Refresh" }, nil, "", ErrTokenType},
		{"typ Offline", func(m map[string]any) { m["typ"] = "Offline" }, nil, "", ErrTokenType},
		{"typ ID", func(m map[string]any) { m["typ"] = "ID" }, nil, "", ErrTokenType},
		{"typ Logout", func(m map[string]any) { m["typ"] = "Logout" }, nil, "", ErrTokenType},
		{"typ absent", func(m map[string]any) { delete(m, "typ") }, nil, "", nil},
		{"typ bearer lowercase", func(m map[string]any) { m["typ"] = "bearer" }, nil, "", nil},
		{"typ not string", func(m map[string]any) { m["typ"] = true }, nil, "", ErrMalformed},
		{"typ ID explicitly allowed", func(m map[string]any) { m["typ"] = "ID" }, func(o *Options) { o.TokenTypes = []string{"ID"} }, "", nil},
		{"typ absent, explicit list", func(m map[string]any) { delete(m, "typ") }, func(o *Options) { o.TokenTypes = []string{"Bearer"} }, "", ErrTokenType},
		{"header at+jwt", nil, nil, "at+jwt", nil},
		{"header application/at+jwt", nil, nil, "application/at+jwt", nil},
		{"header logout+jwt", nil, nil, "logout+jwt", ErrTokenType},
		{"header dpop+jwt", nil, nil, "dpop+jwt", ErrTokenType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := baseClaims()
			if tc.mod != nil {
				tc.mod(m)
			}
			tok, err := Sign(k.signers["ES256"], claimsJSON(t, m), tc.hdrTyp)
			if err != nil {
				t.Fatal(err)
			}
			_, err = verifier(t, tc.opts).Verify(tok, k.set, testNow)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestReason(t *testing.T) {
	if Reason(nil) != "" {
		t.Error("Reason(nil) != \"\"")
	}
	if got := Reason(errors.New("x")); got != "invalid_token" {
		t.Errorf("Reason(other) = %q", got)
	}
	seen := map[string]bool{}
	for _, r := range reasons {
		got := Reason(wrap(r.err, "detail"))
		if got != r.reason || seen[got] {
			t.Errorf("Reason(%v) = %q (dup %v)", r.err, got, seen[got])
		}
		seen[got] = true
		if !strings.Contains(wrap(r.err, "detail").Error(), "detail") {
			t.Errorf("detail lost for %v", r.err)
		}
	}
}
