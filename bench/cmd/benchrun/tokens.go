package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gatewarden/gatewarden/jwt"
)

// Token sets every configuration is measured with. The files hold one token per line and are
// shared by wrk (bench/tokens.lua) and the open-loop generator.
const (
	benchIssuer   = "https://sso.bench.gatewarden.test/realms/bench"
	benchAudience = "bench-api"
)

type tokenSet struct {
	Name     string // short id used in tables
	Desc     string
	File     string
	Count    int
	Valid    bool // expected answer: 200 (true) or 401
	Alg      string
	Distinct bool
}

// tokenSets builds (or reuses, when younger than 12 h) keys and tokens under dir and returns
// the sets plus the JWKS JSON.
func tokenSets(dir string, distinct int) ([]tokenSet, []byte, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, err
	}
	sets := []tokenSet{
		{Name: "rs256-1", Desc: "RS256, one token repeated", Count: 1, Valid: true, Alg: "RS256"},
		{Name: fmt.Sprintf("rs256-%dk", distinct/1000), Desc: fmt.Sprintf("RS256, %d distinct tokens", distinct), Count: distinct, Valid: true, Alg: "RS256", Distinct: true},
		{Name: "es256-1", Desc: "ES256, one token repeated", Count: 1, Valid: true, Alg: "ES256"},
		{Name: fmt.Sprintf("es256-%dk", distinct/1000), Desc: fmt.Sprintf("ES256, %d distinct tokens", distinct), Count: distinct, Valid: true, Alg: "ES256", Distinct: true},
		{Name: "invalid-1k", Desc: "RS256, 1000 distinct tokens with a bad signature", Count: 1000, Valid: false, Alg: "RS256", Distinct: true},
	}
	for i := range sets {
		sets[i].File = filepath.Join(dir, sets[i].Name+".txt")
	}
	stamp := filepath.Join(dir, "stamp")
	jwksFile := filepath.Join(dir, "jwks.json")
	if st, err := os.Stat(stamp); err == nil && time.Since(st.ModTime()) < 12*time.Hour {
		if jwks, err := os.ReadFile(jwksFile); err == nil {
			ok := true
			for _, s := range sets {
				if _, err := os.Stat(s.File); err != nil {
					ok = false
				}
			}
			if ok {
				return sets, jwks, nil
			}
		}
	}

	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	rs := jwt.SigningKey{Alg: "RS256", KeyID: "bench-rs256", Key: rsaKey}
	es := jwt.SigningKey{Alg: "ES256", KeyID: "bench-es256", Key: ecKey}
	jwks, err := jwt.JWKS(rs, es)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	for _, s := range sets {
		key := rs
		if s.Alg == "ES256" {
			key = es
		}
		toks := make([]string, s.Count)
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < s.Count; i += 2 {
					t, err := jwt.Sign(key, benchClaims(now, i), "")
					if err != nil {
						errs <- err
						return
					}
					if !s.Valid {
						t = breakSignature(t)
					}
					toks[i] = t
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		if err := <-errs; err != nil {
			return nil, nil, err
		}
		if err := os.WriteFile(s.File, []byte(strings.Join(toks, "\n")+"\n"), 0o644); err != nil {
			return nil, nil, err
		}
	}
	if err := os.WriteFile(jwksFile, jwks, 0o644); err != nil {
		return nil, nil, err
	}
	return sets, jwks, os.WriteFile(stamp, nil, 0o644)
}

// benchClaims are Keycloak-shaped access token claims (the tokens are about 1 KB, like real ones).
func benchClaims(now time.Time, i int) []byte {
	c := map[string]any{
		"exp": now.Add(24 * time.Hour).Unix(), "iat": now.Unix(), "auth_time": now.Unix(),
		"jti":                fmt.Sprintf("onrtac:%08d-6b1c-4c3e-9a57-bench", i),
		"iss":                benchIssuer,
		"aud":                []string{benchAudience, "account"},
		"sub":                fmt.Sprintf("5b0d9f3e-1c2a-4e55-8f00-%012d", i),
		"typ":                "Bearer",
		"azp":                "bench-app",
		"sid":                fmt.Sprintf("3f0c2c55-%08d", i),
		"acr":                "1",
		"allowed-origins":    []string{"https://app.bench.gatewarden.test"},
		"realm_access":       map[string]any{"roles": []string{"offline_access", "uma_authorization", "user", "default-roles-bench"}},
		"resource_access":    map[string]any{"account": map[string]any{"roles": []string{"manage-account", "manage-account-links", "view-profile"}}},
		"scope":              "openid profile email",
		"email_verified":     true,
		"name":               "Bench User",
		"preferred_username": fmt.Sprintf("user%05d", i),
		"given_name":         "Bench",
		"family_name":        "User",
		"email":              fmt.Sprintf("user%05d@bench.gatewarden.test", i),
	}
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return b
}

// breakSignature changes one character in the middle of the signature, keeping it valid base64url.
func breakSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 20
	b := []byte(tok)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
