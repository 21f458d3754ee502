package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseConfigErrors(t *testing.T) {
	jwks := testJWKS(t)
	tests := []struct {
		name, cfg, want string
	}{
		{"not json", `{`, "not valid JSON"},
		{"not object", `[1]`, "must be a JSON object"},
		{"no providers", `{}`, `"providers" must be a non-empty array`},
		{"unknown field", `{"providerz":[]}`, `unknown field "providerz"`},
		{"unknown provider field", `{"providers":[{"issuer":"i","jwks":` + jwks + `,"audience":"x"}]}`, `unknown field "providers[0].audience"`},
		{"no issuer", `{"providers":[{"jwks":` + jwks + `}]}`, "issuer is required"},
		{"no key source", `{"providers":[{"issuer":"i"}]}`, "needs exactly one key source"},
		{"bad jwks", `{"providers":[{"issuer":"i","jwks":{"keys":[]}}]}`, "jwks"},
		{"alg none", `{"providers":[{"issuer":"i","algorithms":["none"],"jwks":` + jwks + `}]}`, "providers[0]"},
		{"bad skew", `{"providers":[{"issuer":"i","clock_skew":"soon","jwks":` + jwks + `}]}`, `"soon" is not a duration`},
		{"bad header", `{"client_id_header":"x client","providers":[{"issuer":"i","jwks":` + jwks + `}]}`, "not a usable header name"},
		{"authorization as output", `{"user_id_header":"Authorization","providers":[{"issuer":"i","jwks":` + jwks + `}]}`, "is reserved"},
		{"duplicate names", `{"providers":[{"name":"a","issuer":"i","jwks":` + jwks + `},{"name":"a","issuer":"j","jwks":` + jwks + `}]}`, "used twice"},
		{"bad cache", `{"cache":{"max_entries":-1},"providers":[{"issuer":"i","jwks":` + jwks + `}]}`, "cache.max_entries"},
		{"quote in realm", `{"realm":"a\"b","providers":[{"issuer":"i","jwks":` + jwks + `}]}`, "realm"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tt.cfg))
			if !errors.Is(err, errConfig) {
				t.Fatalf("parseConfig error = %v, want errConfig", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig([]byte(`{"providers":[{"issuer":"https://i","jwks":` + testJWKS(t) + `}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.realm != "gatewarden" || c.clientIDHeader != "x-client-id" || c.userIDHeader != "x-user-id" {
		t.Errorf("defaults = %q %q %q", c.realm, c.clientIDHeader, c.userIDHeader)
	}
	if len(c.providers) != 1 || c.providers[0].name != "https://i" {
		t.Errorf("provider name should default to the issuer: %+v", c.providers)
	}
	if c.cacheEntries != defaultCacheEntries {
		t.Errorf("cache entries = %d", c.cacheEntries)
	}
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"providers":[{"issuer":"i","jwks":{"keys":[]}}]}`))
	f.Add([]byte(`{"cache":{"max_entries":1e99,"ttl":-1},"providers":[{"issuer":1}]}`))
	f.Add([]byte(`{"providers":[{"issuer":"i","jwks":"{\"keys\":[{\"kty\":\"RSA\"}]}"}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := parseConfig(b)
		if err == nil && len(c.providers) == 0 {
			t.Fatal("accepted a configuration without providers")
		}
	})
}

// TestDocsExample keeps the complete filter example in docs/CONFIG.md valid.
func TestDocsExample(t *testing.T) {
	doc, err := os.ReadFile("../docs/CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i := strings.Index(s, "## Filter configuration (JSON)")
	if i < 0 {
		t.Fatal("docs/CONFIG.md has no filter section")
	}
	s = s[i:]
	start := strings.Index(s, "```json\n")
	end := strings.Index(s[start+8:], "```")
	if start < 0 || end < 0 {
		t.Fatal("no ```json example in the filter section")
	}
	c, err := parseConfig([]byte(s[start+8 : start+8+end]))
	if err != nil {
		t.Fatalf("the documented example does not parse: %v", err)
	}
	if len(c.providers) != 3 || len(c.rules) != 7 || len(c.claimHeaders) != 3 {
		t.Fatalf("example parsed to %d providers, %d rules, %d claim headers", len(c.providers), len(c.rules), len(c.claimHeaders))
	}
}

var update = flag.Bool("update", false, "rewrite golden files in testdata/filter")

// TestGoldenConfigs parses every configuration in testdata/filter: valid ones must parse to
// their golden summary, invalid ones must fail with their golden error.
func TestGoldenConfigs(t *testing.T) {
	for _, kind := range []string{"valid", "invalid"} {
		files, err := filepath.Glob(filepath.Join("..", "testdata", "filter", kind, "*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no %s configs: %v", kind, err)
		}
		for _, f := range files {
			t.Run(kind+"/"+filepath.Base(f), func(t *testing.T) {
				in, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				c, err := parseConfig(in)
				var got string
				switch {
				case kind == "valid" && err != nil:
					t.Fatalf("refused: %v", err)
				case kind == "invalid" && err == nil:
					t.Fatal("accepted an invalid configuration")
				case kind == "valid":
					got = summarize(c)
				default:
					got = err.Error() + "\n"
				}
				golden := strings.TrimSuffix(f, ".json") + ".golden.txt"
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run with -update to create it)", err)
				}
				if got != string(want) {
					t.Fatalf("got:\n%s\nwant:\n%s", got, want)
				}
			})
		}
	}
}

// summarize renders what a configuration means, for golden files.
func summarize(c *config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "realm %q forward=%v cors_bypass=%v cache=%d/%s\n", c.realm, c.forward, c.corsBypass, c.cacheEntries, c.cacheTTL)
	fmt.Fprintf(&b, "injected headers: %s\n", strings.Join(c.injected, " "))
	for _, s := range c.sources {
		fmt.Fprintf(&b, "source header=%q prefix=%q query=%q cookie=%q\n", s.header, s.prefix, s.query, s.cookie)
	}
	for _, p := range c.providers {
		src := "inline"
		switch {
		case p.jwksURL != nil:
			src = "jwks_uri " + p.jwksURL.String()
		case p.discovery != nil:
			src = "discovery " + p.discovery.String()
		}
		fmt.Fprintf(&b, "provider %q issuers=%v keys=%s upstream=%q authority=%q refresh=%s timeout=%s cooldown=%s stale=%s pause=%s\n",
			p.name, p.issuers, src, p.upstream, p.authority, p.refresh, p.fetchTimeout, p.kidCooldown, p.staleMaxAge, p.pauseTimeout)
	}
	for _, r := range c.rules {
		fmt.Fprintf(&b, "rule %d %s %q methods=%v public=%v allow_missing=%v providers=%v all_of=%v realm_roles=%v client_roles=%v any_role=%v scopes=%v azp=%v claims=%d\n",
			r.index, r.kind, r.path, r.methods, r.public, r.allowMissing, providerNames(r.providers), r.allOf,
			r.realmRoles, r.clientRoles, r.anyRole, r.scopes, r.azp, len(r.claims))
	}
	switch {
	case c.defaultRule == nil:
		b.WriteString("default: deny\n")
	case c.defaultRule.public:
		b.WriteString("default: allow\n")
	default:
		b.WriteString("default: authenticate\n")
	}
	return b.String()
}
