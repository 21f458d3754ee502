package devissuer

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/jwt"
)

// keyDir is shared by the tests so the RSA key is generated once per test binary.
var (
	keyDirOnce sync.Once
	keyDirPath string
)

func sharedKeyDir(t *testing.T) string {
	t.Helper()
	keyDirOnce.Do(func() {
		dir, err := os.MkdirTemp("", "devissuer-keys-")
		if err != nil {
			t.Fatal(err)
		}
		keyDirPath = dir
	})
	return keyDirPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if keyDirPath != "" {
		os.RemoveAll(keyDirPath)
	}
	os.Exit(code)
}

func startIssuer(t *testing.T) *Issuer {
	t.Helper()
	iss, err := Start(Config{KeyDir: sharedKeyDir(t), Logger: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { iss.Close() })
	return iss
}

func verifier(t *testing.T, iss *Issuer) (*jwt.Verifier, *jwt.KeySet) {
	t.Helper()
	v, err := jwt.NewVerifier(jwt.Options{
		Algorithms: []string{"RS256", "ES256"},
		Issuers:    []string{iss.URL()},
		Audiences:  []string{DefaultAudience},
	})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := jwt.ParseJWKS(iss.JWKS())
	if err != nil {
		t.Fatal(err)
	}
	return v, ks
}

func getJSON(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	iss := startIssuer(t)
	var disc map[string]any
	getJSON(t, iss.URL()+"/.well-known/openid-configuration", &disc)
	for k, want := range map[string]string{
		"issuer":         iss.URL(),
		"jwks_uri":       iss.JWKSURL(),
		"token_endpoint": iss.TokenURL(),
	} {
		if disc[k] != want {
			t.Errorf("discovery %s = %v, want %q", k, disc[k], want)
		}
	}
	for _, path := range []string{"/jwks", "/protocol/openid-connect/certs"} {
		t.Run(path, func(t *testing.T) {
			var set struct {
				Keys []struct{ Kty, Kid, Alg, Use, Crv string }
			}
			getJSON(t, iss.URL()+path, &set)
			if len(set.Keys) != 2 {
				t.Fatalf("JWKS has %d keys, want 2", len(set.Keys))
			}
			got := []string{set.Keys[0].Kty + "/" + set.Keys[0].Alg, set.Keys[1].Kty + "/" + set.Keys[1].Alg}
			if !slices.Equal(got, []string{"RSA/RS256", "EC/ES256"}) {
				t.Errorf("keys = %v, want RSA/RS256 and EC/ES256", got)
			}
			for _, k := range set.Keys {
				if k.Kid == "" || k.Use != "sig" {
					t.Errorf("key %+v: want a kid and use=sig", k)
				}
			}
		})
	}
	ks, err := jwt.ParseJWKS(iss.JWKS())
	if err != nil || ks.Len() != 2 {
		t.Fatalf("ParseJWKS: %v, %d keys", err, ks.Len())
	}
}

type tokenCase struct {
	name       string
	method     string
	path       string
	form       url.Values
	rawBody    string // used instead of form when set
	ctype      string
	basic      []string // id, secret (already form-encoded by the test when needed)
	accept     string
	wantStatus int
	wantError  string // OAuth error code
	check      func(t *testing.T, tok *jwt.Token)
}

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func TestTokenEndpoint(t *testing.T) {
	iss := startIssuer(t)
	v, ks := verifier(t, iss)
	cc := []string{"grant_type", "client_credentials", "client_id", "demo-app", "client_secret", "demo-secret"}

	wantClaim := func(path, want string) func(*testing.T, *jwt.Token) {
		return func(t *testing.T, tok *jwt.Token) {
			t.Helper()
			if got, _ := tok.Claims.String(path); got != want {
				t.Errorf("claim %s = %q, want %q", path, got, want)
			}
		}
	}
	all := func(fs ...func(*testing.T, *jwt.Token)) func(*testing.T, *jwt.Token) {
		return func(t *testing.T, tok *jwt.Token) {
			for _, f := range fs {
				f(t, tok)
			}
		}
	}
	hasRole := func(path, role string) func(*testing.T, *jwt.Token) {
		return func(t *testing.T, tok *jwt.Token) {
			t.Helper()
			if got := tok.Claims.Strings(path); !slices.Contains(got, role) {
				t.Errorf("claim %s = %v, want it to contain %q", path, got, role)
			}
		}
	}
	alg := func(want string) func(*testing.T, *jwt.Token) {
		return func(t *testing.T, tok *jwt.Token) {
			t.Helper()
			if tok.Header.Alg != want {
				t.Errorf("alg = %q, want %q", tok.Header.Alg, want)
			}
		}
	}

	cases := []tokenCase{
		{name: "client_credentials form RS256", form: form(cc...), wantStatus: 200, check: all(
			alg("RS256"), wantClaim("azp", "demo-app"), wantClaim("typ", "Bearer"),
			wantClaim("aud", DefaultAudience), wantClaim("preferred_username", "service-account-demo-app"),
			wantClaim("sub", serviceAccountID("demo-app")), wantClaim("scope", "openid profile email"),
			hasRole("realm_access.roles", "user"), hasRole("resource_access.gatewarden-demo.roles", "read"),
		)},
		{name: "client_credentials basic ES256", form: form("grant_type", "client_credentials", "alg", "ES256"),
			basic: []string{"demo-admin", "admin-secret"}, wantStatus: 200, check: all(
				alg("ES256"), wantClaim("azp", "demo-admin"), hasRole("realm_access.roles", "admin"),
				hasRole("resource_access.gatewarden-demo.roles", "write"))},
		{name: "keycloak token path", path: "/protocol/openid-connect/token", form: form(cc...), wantStatus: 200,
			check: wantClaim("azp", "demo-app")},
		{name: "scope subset", form: form(append(cc, "scope", "profile profile")...), wantStatus: 200,
			check: wantClaim("scope", "profile")},
		{name: "password grant", form: form("grant_type", "password", "client_id", "demo-app", "client_secret",
			"demo-secret", "username", "alice", "password", "alice", "scope", "openid email"), wantStatus: 200,
			check: all(wantClaim("preferred_username", "alice"), wantClaim("sub", DemoUsers()[0].Subject),
				wantClaim("azp", "demo-app"), wantClaim("email", "alice@example.test"))},
		{name: "wrong secret", form: form("grant_type", "client_credentials", "client_id", "demo-app", "client_secret", "nope"),
			wantStatus: 401, wantError: "invalid_client"},
		{name: "unknown client basic", form: form("grant_type", "client_credentials"), basic: []string{"ghost", "demo-secret"},
			wantStatus: 401, wantError: "invalid_client"},
		{name: "missing client", form: form("grant_type", "client_credentials"), wantStatus: 400, wantError: "invalid_request"},
		{name: "two auth methods", form: form(cc...), basic: []string{"demo-app", "demo-secret"},
			wantStatus: 400, wantError: "invalid_request"},
		{name: "missing grant_type", form: form("client_id", "demo-app", "client_secret", "demo-secret"),
			wantStatus: 400, wantError: "invalid_request"},
		{name: "unsupported grant", form: form("grant_type", "authorization_code", "client_id", "demo-app", "client_secret", "demo-secret"),
			wantStatus: 400, wantError: "unsupported_grant_type"},
		{name: "alg none refused", form: form(append(cc, "alg", "none")...), wantStatus: 400, wantError: "invalid_request"},
		{name: "alg HS256 refused", form: form(append(cc, "alg", "HS256")...), wantStatus: 400, wantError: "invalid_request"},
		{name: "scope not allowed", form: form(append(cc, "scope", "admin")...), wantStatus: 400, wantError: "invalid_scope"},
		{name: "repeated parameter", form: form(append(cc, "grant_type", "client_credentials")...), wantStatus: 400, wantError: "invalid_request"},
		{name: "wrong user password", form: form("grant_type", "password", "client_id", "demo-app", "client_secret",
			"demo-secret", "username", "alice", "password", "bob"), wantStatus: 400, wantError: "invalid_grant"},
		{name: "password grant not allowed", form: form("grant_type", "password", "client_id", "demo-admin", "client_secret",
			"admin-secret", "username", "alice", "password", "alice"), wantStatus: 400, wantError: "unauthorized_client"},
		{name: "json body refused", rawBody: `{"grant_type":"client_credentials"}`, ctype: "application/json",
			wantStatus: 400, wantError: "invalid_request"},
		{name: "GET refused", method: http.MethodGet, wantStatus: 405, wantError: "invalid_request"},
		{name: "oversized body", rawBody: "grant_type=" + strings.Repeat("x", maxFormBytes+1), wantStatus: 400, wantError: "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, status, oerr := doToken(t, iss, tc)
			if status != tc.wantStatus {
				t.Fatalf("status = %d, want %d (error %q)", status, tc.wantStatus, oerr)
			}
			if oerr != tc.wantError {
				t.Fatalf("error = %q, want %q", oerr, tc.wantError)
			}
			if tc.wantStatus != 200 {
				return
			}
			parsed, err := v.Verify(tok, ks, time.Now())
			if err != nil {
				t.Fatalf("minted token does not verify: %v", err)
			}
			if tc.check != nil {
				tc.check(t, parsed)
			}
		})
	}
}

// doToken posts a token request and returns the access token, status and OAuth error code.
func doToken(t *testing.T, iss *Issuer, tc tokenCase) (string, int, string) {
	t.Helper()
	method := tc.method
	if method == "" {
		method = http.MethodPost
	}
	path := tc.path
	if path == "" {
		path = "/token"
	}
	body := tc.rawBody
	if body == "" {
		body = tc.form.Encode()
	}
	req, err := http.NewRequest(method, iss.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ctype := tc.ctype
	if ctype == "" {
		ctype = "application/x-www-form-urlencoded"
	}
	req.Header.Set("Content-Type", ctype)
	if tc.accept != "" {
		req.Header.Set("Accept", tc.accept)
	}
	if tc.basic != nil {
		req.SetBasicAuth(url.QueryEscape(tc.basic[0]), url.QueryEscape(tc.basic[1]))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	var out struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int    `json:"expires_in"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	if resp.StatusCode == 200 && (out.TokenType != "Bearer" || out.ExpiresIn != int(DefaultTokenTTL.Seconds())) {
		t.Errorf("token_type %q expires_in %d, want Bearer %d", out.TokenType, out.ExpiresIn, int(DefaultTokenTTL.Seconds()))
	}
	if out.Error != "" && out.Description == "" {
		t.Errorf("error %q without error_description", out.Error)
	}
	return out.AccessToken, resp.StatusCode, out.Error
}

func TestTokenPlainText(t *testing.T) {
	iss := startIssuer(t)
	v, ks := verifier(t, iss)
	req, _ := http.NewRequest(http.MethodPost, iss.TokenURL(),
		strings.NewReader("grant_type=client_credentials&client_id=demo-app&client_secret=demo-secret"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	tok := strings.TrimSuffix(string(body), "\n")
	if strings.ContainsAny(tok, " \n{") {
		t.Fatalf("body is not a bare token: %q", body)
	}
	if _, err := v.Verify(tok, ks, time.Now()); err != nil {
		t.Fatalf("verify: %v", err)
	}
}

// errAnyRefusal marks cases where any verification error will do (the jwt package
// may call an unsigned token malformed or a refused algorithm).
var errAnyRefusal = errors.New("any refusal")

func TestMint(t *testing.T) {
	iss := startIssuer(t)
	v, ks := verifier(t, iss)
	rsaKey, _ := iss.SigningKey("RS256")
	otherKid := rsaKey
	otherKid.KeyID = "not-published"
	ecOther, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, _ := iss.SigningKey("ES256")
	foreign := jwt.SigningKey{Alg: "ES256", KeyID: ecKey.KeyID, Key: ecOther}
	now := time.Now()

	cases := []struct {
		name    string
		claims  Claims
		alg     string
		key     *jwt.SigningKey
		wantErr error
		check   func(t *testing.T, tok *jwt.Token)
	}{
		{name: "defaults RS256", alg: "RS256"},
		{name: "defaults ES256", alg: "ES256"},
		{name: "override sub and roles", alg: "RS256",
			claims: Claims{"sub": "user-1", "realm_access": map[string]any{"roles": []string{"x"}}},
			check: func(t *testing.T, tok *jwt.Token) {
				if tok.Claims.Subject != "user-1" || !slices.Equal(tok.Claims.Strings("realm_access.roles"), []string{"x"}) {
					t.Errorf("sub %q roles %v", tok.Claims.Subject, tok.Claims.Strings("realm_access.roles"))
				}
			}},
		{name: "aud list", alg: "ES256", claims: Claims{"aud": []string{"a", DefaultAudience}}},
		{name: "expired", alg: "RS256", claims: Claims{"exp": now.Add(-time.Minute)}, wantErr: jwt.ErrExpired},
		{name: "not yet valid", alg: "RS256", claims: Claims{"nbf": now.Add(time.Hour)}, wantErr: jwt.ErrNotYetValid},
		{name: "issued in future", alg: "ES256", claims: Claims{"iat": now.Add(time.Hour), "exp": now.Add(2 * time.Hour)},
			wantErr: jwt.ErrIssuedInFuture},
		{name: "wrong issuer", alg: "RS256", claims: Claims{"iss": "http://evil.test"}, wantErr: jwt.ErrIssuer},
		{name: "no issuer", alg: "RS256", claims: Claims{"iss": nil}, wantErr: jwt.ErrIssuer},
		{name: "wrong audience", alg: "RS256", claims: Claims{"aud": "other-api"}, wantErr: jwt.ErrAudience},
		{name: "no exp", alg: "RS256", claims: Claims{"exp": nil}, wantErr: jwt.ErrMissingClaim},
		{name: "refresh token typ", alg: "RS256", claims: Claims{"typ": "Refresh"}, wantErr: jwt.ErrTokenType},
		{name: "alg none", alg: "none", wantErr: errAnyRefusal},
		{name: "unpublished kid", key: &otherKid, wantErr: jwt.ErrUnknownKey},
		{name: "foreign key same kid", key: &foreign, wantErr: jwt.ErrSignature},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var tok string
			var err error
			if tc.key != nil {
				tok, err = iss.MintWithKey(tc.claims, *tc.key)
			} else {
				tok, err = iss.Mint(tc.claims, tc.alg)
			}
			if err != nil {
				t.Fatalf("mint: %v", err)
			}
			parsed, err := v.Verify(tok, ks, now)
			if tc.wantErr == errAnyRefusal {
				if err == nil {
					t.Fatal("verify accepted the token")
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("verify error = %v, want %v", err, tc.wantErr)
			}
			if err == nil && tc.check != nil {
				tc.check(t, parsed)
			}
		})
	}
	if _, err := iss.Mint(nil, "PS256"); !errors.Is(err, ErrAlgorithm) {
		t.Errorf("Mint(PS256) error = %v, want ErrAlgorithm", err)
	}
}

func TestMintNoneHasEmptySignature(t *testing.T) {
	iss := startIssuer(t)
	tok, err := iss.Mint(Claims{"sub": "x"}, "none")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[2] != "" {
		t.Fatalf("token %q: want header.payload.", tok)
	}
	h, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if string(h) != `{"alg":"none","typ":"JWT"}` {
		t.Errorf("header = %s", h)
	}
}

func TestKeyDir(t *testing.T) {
	dir := t.TempDir()
	a, err := New(Config{Issuer: "http://127.0.0.1:1", KeyDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{RSAKeyFile, ECKeyFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
	b, err := New(Config{Issuer: "http://127.0.0.1:1", KeyDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if string(a.JWKS()) != string(b.JWKS()) {
		t.Error("a second issuer on the same KeyDir published different keys")
	}

	if err := os.WriteFile(filepath.Join(dir, ECKeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{Issuer: "http://127.0.0.1:1", KeyDir: dir}); err == nil || !strings.Contains(err.Error(), ECKeyFile) {
		t.Errorf("bad key file: error = %v, want one naming %s", err, ECKeyFile)
	}
}

func TestConfigErrors(t *testing.T) {
	cases := []struct {
		name    string
		start   bool
		cfg     Config
		wantErr error
		wantSub string
	}{
		{name: "New needs Issuer", cfg: Config{}, wantSub: "Config.Issuer is empty"},
		{name: "public address", start: true, cfg: Config{Addr: "0.0.0.0:0"}, wantErr: ErrNotLoopback},
		{name: "hostname", start: true, cfg: Config{Addr: "example.com:0"}, wantErr: ErrNotLoopback},
		{name: "no port", start: true, cfg: Config{Addr: "127.0.0.1"}, wantSub: "host:port"},
		{name: "client without secret", cfg: Config{Issuer: "http://x", KeyDir: sharedKeyDir(t), Clients: []Client{{ID: "a"}}},
			wantSub: "needs both"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.start {
				var iss *Issuer
				iss, err = Start(tc.cfg)
				if iss != nil {
					iss.Close()
				}
			} else {
				_, err = New(tc.cfg)
			}
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error = %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantSub) {
				t.Errorf("error = %q, want it to contain %q", err, tc.wantSub)
			}
		})
	}
}

// TestConcurrentTokens hammers the token endpoint (run with -race).
func TestConcurrentTokens(t *testing.T) {
	iss := startIssuer(t)
	v, ks := verifier(t, iss)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 8 {
				alg := []string{"RS256", "ES256"}[g%2]
				tok, status, oerr := doToken(t, iss, tokenCase{form: form("grant_type", "client_credentials",
					"client_id", "demo-app", "client_secret", "demo-secret", "alg", alg)})
				if status != 200 {
					errs <- errors.New(oerr)
					return
				}
				if _, err := v.Verify(tok, ks, time.Now()); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
