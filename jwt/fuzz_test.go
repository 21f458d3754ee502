package jwt

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// hostileTokens seed FuzzParse: the shapes of the attack table plus odd bytes.
func hostileTokens(t testing.TB) []string {
	g, _, _ := loadGolden(t)
	out := []string{
		"", ".", "..", "...", "a.b.c", "a.b.", ".b.c", "a..c",
		b64s(`{"alg":"none"}`) + "." + b64s(`{}`) + ".",
		b64s(`{"alg":"NONE"}`) + "." + b64s(`{}`) + ".AA",
		b64s(`{"alg":"HS256","kid":"rsa-RS256"}`) + "." + b64s(`{}`) + ".AAAA",
		b64s(`{"alg":"ES256","kid":"ec256","alg":"none"}`) + "." + b64s(`{}`) + ".AAAA",
		b64s(`{"alg":"ES256","crit":["b64"],"b64":false}`) + ".e30.AAAA",
		b64s(`{"alg":"ES256","jwk":{"kty":"EC"}}`) + ".e30.AAAA",
		b64s(`{"alg":"ES256","kid":"../../etc/passwd"}`) + ".e30.AAAA",
		b64s(strings.Repeat("[", 100)) + ".e30.AAAA",
		b64s(`{"alg":"RS256","\u0061lg":"x"}`) + ".e30.AAAA",
		"eyJhbGciOiJSUzI1NiJ9.e30=.AAAA",
		"eyJhbGciOiJSUzI1NiJ9\n.e30.AAAA",
		rfc7515HS256, rfc7515RS256, rfc7515ES256, rfc8037EdDSA,
	}
	for _, c := range g.Cases {
		out = append(out, c.Token)
	}
	return out
}

// FuzzParse feeds arbitrary tokens through Verify: no panic, every error maps to a
// sentinel, and nothing but the golden tokens can ever verify.
func FuzzParse(f *testing.F) {
	for _, s := range hostileTokens(f) {
		f.Add(s)
	}
	g, set, _ := loadGolden(f)
	valid := map[string]bool{}
	for _, c := range g.Cases {
		if c.Reason == "" {
			valid[c.Token] = true
		}
	}
	v := verifier(f, func(o *Options) { o.TokenTypes = []string{"", "Bearer"}; o.MaxLifetime = 2 * time.Hour })
	now := time.Unix(g.Now, 0)
	f.Fuzz(func(t *testing.T, token string) {
		tok, err := v.Verify(token, set, now)
		if err != nil {
			if Reason(err) == "invalid_token" {
				t.Fatalf("error without sentinel: %v", err)
			}
			return
		}
		if !valid[token] {
			t.Fatalf("forged token verified: %q", token)
		}
		if tok.Claims == nil || tok.Header.Alg == "" {
			t.Fatal("incomplete token")
		}
	})
}

// FuzzStrictJSON checks the strict scanner against encoding/json: whatever we accept
// is valid JSON; valid, duplicate-free, shallow JSON objects are accepted.
func FuzzStrictJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1}`, `{"a":1,"a":2}`, `{"a":{"b":[1,2,{"c":null}]}}`,
		`{"\u0061":1,"a":2}`, `{"a":"\ud800"}`, `[1]`, `{"a":1e5,"b":-0.5E-3}`, `{"a":01}`,
		`{"a":"` + "\xff" + `"}`, `{` + strings.Repeat(`"x":{`, 40) + strings.Repeat(`}`, 40) + `}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := checkJSONObject(data)
		std := json.Valid(data)
		if err == nil && !std {
			t.Fatalf("accepted invalid JSON %q", data)
		}
		if err != nil && std && utf8.Valid(data) {
			trimmed := bytes.TrimLeft(data, " \t\r\n")
			if len(trimmed) > 0 && trimmed[0] == '{' && !hasDupOrDeep(data) {
				t.Fatalf("rejected valid JSON %q: %v", data, err)
			}
		}
	})
}

// hasDupOrDeep walks data with encoding/json's tokenizer (independent of our scanner)
// and reports duplicate keys or nesting beyond maxJSONDepth.
func hasDupOrDeep(data []byte) bool {
	d := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		obj   bool
		keys  map[string]bool
		isKey bool
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.isKey {
			if k, ok := tok.(string); ok {
				if top.keys[k] {
					return true
				}
				top.keys[k] = true
				top.isKey = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if top != nil && top.obj {
				top.isKey = true
			}
			stack = append(stack, &frame{obj: tok == json.Delim('{'), keys: map[string]bool{}, isKey: true})
			if len(stack) > maxJSONDepth {
				return true
			}
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			if len(stack) == 0 {
				return false
			}
			continue
		}
		if top != nil && top.obj {
			top.isKey = true
		}
	}
}

// FuzzParseJWKS: no panic; a parsed set is usable and internally consistent.
func FuzzParseJWKS(f *testing.F) {
	f.Add([]byte(rfc7515RSAJWKS))
	f.Add([]byte(rfc7515ECJWKS))
	f.Add([]byte(rfc7515P521JWKS))
	f.Add([]byte(rfc8037JWKS))
	f.Add([]byte(`{"keys":[{"kty":"RSA","use":"enc","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"},{"kty":"oct","k":"AA"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"},{"kty":"OKP","crv":"X25519","x":"AA"}]}`))
	f.Add([]byte(`{"keys":[],"keys":[1]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"` + strings.Repeat("_", 400) + `","e":"AQAB","key_ops":["verify"]}]}`))
	if b, err := JWKS(keys(f).signers["RS256"], keys(f).signers["ES256"], keys(f).signers["EdDSA"]); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := ParseJWKS(data)
		if err != nil {
			if set != nil || Reason(err) == "invalid_token" {
				t.Fatalf("bad error result: %v", err)
			}
			return
		}
		if set.Len() == 0 || len(set.KeyIDs()) > set.Len() {
			t.Fatalf("inconsistent set: %d keys, ids %q", set.Len(), set.KeyIDs())
		}
		for _, k := range set.keys {
			if k.rsa == nil && k.ec == nil && k.ed == nil {
				t.Fatal("key without material")
			}
			if k.rsa != nil && k.rsa.N.BitLen() < minRSABits {
				t.Fatal("weak RSA key accepted")
			}
		}
	})
}

// FuzzClaimPath: lookups never panic, and what they return is consistent.
func FuzzClaimPath(f *testing.F) {
	payload := `{"realm_access":{"roles":["a","b"]},"resource_access":{"my-app":{"roles":["r",1,true]}},"a.b":{"c":"d"},"n":1.5,"arr":[[1],[2,{"x":"y"}]],"*":1,"e\\u0073c":"v"}`
	for _, p := range []string{"realm_access.roles", "resource_access.my-app.roles", `a\.b.c`, "n", "arr.1.1.x", "arr.#", "*", "esc", `\`, `.`, "..", `a\`, "realm_access.roles.99999999999"} {
		f.Add([]byte(payload), p)
	}
	f.Add([]byte(`{"a":[`+strings.Repeat("1,", 1000)+`1]}`), "a.1000")
	f.Fuzz(func(t *testing.T, payload []byte, path string) {
		c, err := parseClaims(payload)
		if err != nil {
			return
		}
		raw, okJSON := c.JSON(path)
		s, okStr := c.String(path)
		list := c.Strings(path)
		if okJSON && !json.Valid(raw) {
			t.Fatalf("JSON(%q) = invalid %q", path, raw)
		}
		if okStr && !okJSON {
			t.Fatalf("String(%q) found %q but JSON did not", path, s)
		}
		if okStr && (len(list) != 1 || list[0] != s) {
			t.Fatalf("String(%q) = %q but Strings = %q", path, s, list)
		}
		if len(list) > 0 && !okJSON {
			t.Fatalf("Strings(%q) found values but JSON did not", path)
		}
	})
}
