//go:build e2e

package e2e

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"
)

// These tests check the seed flows against Keycloak itself, independent of the filter: if one
// fails, the gateway tests that build on it cannot be trusted either.

// claimsOf decodes a token's payload or fails the test.
func claimsOf(t *testing.T, token string) map[string]any {
	t.Helper()
	c, err := DecodeClaims(token)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func claimAt(m map[string]any, keys ...string) any {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[k]
	}
	return cur
}

// checkAccessToken checks the claims every access token of the realm must carry for the filter.
func checkAccessToken(t *testing.T, kc *KeycloakServer, token, azp string, ttl time.Duration) map[string]any {
	t.Helper()
	h, err := DecodeHeader(token)
	if err != nil {
		t.Fatal(err)
	}
	if h["alg"] != "RS256" || h["kid"] == "" {
		t.Errorf("header = %v, want alg RS256 and a kid", h)
	}
	c := claimsOf(t, token)
	if c["iss"] != kc.Issuer() {
		t.Errorf("iss = %v, want %s", c["iss"], kc.Issuer())
	}
	if !slices.Contains(strs(c["aud"]), APIClientID) {
		t.Errorf("aud = %v, want it to contain %s", c["aud"], APIClientID)
	}
	if c["azp"] != azp || c["typ"] != "Bearer" || c["sub"] == nil {
		t.Errorf("azp/typ/sub = %v/%v/%v, want %s/Bearer/<sub>", c["azp"], c["typ"], c["sub"], azp)
	}
	exp, _ := c["exp"].(float64)
	iat, _ := c["iat"].(float64)
	if got := time.Duration(exp-iat) * time.Second; ttl != 0 && got != ttl {
		t.Errorf("exp-iat = %s, want %s", got, ttl)
	}
	return c
}

func TestKeycloakPasswordGrantClaims(t *testing.T) {
	kc := needKeycloak(t)
	ctx := ctxT(t, 2*time.Minute)
	tests := []struct {
		name        string
		user        User
		realmRoles  []string // must be present
		notRealm    []string // must be absent
		clientRoles []string // gatewarden-api roles, exact
	}{
		{"alice", Alice, []string{"api-user", "offline_access"}, []string{"api-admin"}, []string{"reader"}},
		{"bob", Bob, []string{"offline_access"}, []string{"api-user", "api-admin"}, nil},
		{"carol", Carol, []string{"api-user", "api-admin"}, nil, []string{"reader", "writer"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := oidc(t).PasswordGrant(ctx, DemoAppClientID, "", tt.user)
			if err != nil {
				t.Fatal(err)
			}
			c := checkAccessToken(t, kc, tok.AccessToken, DemoAppClientID, DemoAppAccessTTL)
			if c["preferred_username"] != tt.user.Name {
				t.Errorf("preferred_username = %v", c["preferred_username"])
			}
			roles := strs(claimAt(c, "realm_access", "roles"))
			for _, r := range tt.realmRoles {
				if !slices.Contains(roles, r) {
					t.Errorf("realm roles %v lack %s", roles, r)
				}
			}
			for _, r := range tt.notRealm {
				if slices.Contains(roles, r) {
					t.Errorf("realm roles %v have %s", roles, r)
				}
			}
			cr := strs(claimAt(c, "resource_access", APIClientID, "roles"))
			slices.Sort(cr)
			if !slices.Equal(cr, tt.clientRoles) {
				t.Errorf("client roles of %s = %v, want %v", APIClientID, cr, tt.clientRoles)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		_, err := oidc(t).PasswordGrant(ctx, DemoAppClientID, "", User{"alice", "nope"})
		var oe *OAuthError
		if !errors.As(err, &oe) || oe.Code != "invalid_grant" {
			t.Fatalf("err = %v, want invalid_grant", err)
		}
	})
}

func TestKeycloakLoginForm(t *testing.T) {
	kc := needKeycloak(t)
	ctx := ctxT(t, 2*time.Minute)
	port, _ := FreePort()
	redirect := "http://127.0.0.1:" + strconv.Itoa(port) + "/callback" // loopback: any port (RFC 8252)
	tok, err := oidc(t).Login(ctx, LoginRequest{ClientID: DemoAppClientID, RedirectURI: redirect, User: Alice})
	if err != nil {
		t.Fatal(err)
	}
	c := checkAccessToken(t, kc, tok.AccessToken, DemoAppClientID, DemoAppAccessTTL)
	if c["preferred_username"] != "alice" {
		t.Errorf("preferred_username = %v", c["preferred_username"])
	}
	if tok.RefreshToken == "" || tok.IDToken == "" {
		t.Fatalf("login returned no refresh or ID token: %+v", tok)
	}
	if typ := claimsOf(t, tok.RefreshToken)["typ"]; typ != "Refresh" {
		t.Errorf("refresh token typ = %v, want Refresh", typ)
	}
	id := claimsOf(t, tok.IDToken)
	if id["typ"] != "ID" || id["aud"] != DemoAppClientID {
		t.Errorf("ID token typ/aud = %v/%v, want ID/%s", id["typ"], id["aud"], DemoAppClientID)
	}

	t.Run("wrong password shows the login page error", func(t *testing.T) {
		_, err := oidc(t).Login(ctx, LoginRequest{ClientID: DemoAppClientID, RedirectURI: redirect, User: User{"alice", "wrong"}})
		if !errors.Is(err, ErrLoginRejected) {
			t.Fatalf("err = %v, want ErrLoginRejected", err)
		}
		t.Log(err)
	})
	t.Run("foreign redirect uri refused", func(t *testing.T) {
		_, err := oidc(t).Login(ctx, LoginRequest{ClientID: DemoAppClientID, RedirectURI: "http://127.0.0.2:1/callback", User: Alice})
		if err == nil {
			t.Fatal("login with an unregistered redirect URI succeeded")
		}
	})
}

func TestKeycloakRefresh(t *testing.T) {
	kc := needKeycloak(t)
	ctx := ctxT(t, 2*time.Minute)
	tok, err := oidc(t).PasswordGrant(ctx, DemoAppClientID, "", Alice)
	if err != nil {
		t.Fatal(err)
	}
	next, err := oidc(t).Refresh(ctx, DemoAppClientID, "", tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	c := checkAccessToken(t, kc, next.AccessToken, DemoAppClientID, DemoAppAccessTTL)
	if c["sub"] != claimsOf(t, tok.AccessToken)["sub"] {
		t.Error("refreshed token has another subject")
	}
	if _, err := oidc(t).Refresh(ctx, DemoAppClientID, "", tok.AccessToken); err == nil {
		t.Error("an access token was accepted as a refresh token")
	}
}

func TestKeycloakOfflineToken(t *testing.T) {
	kc := needKeycloak(t)
	ctx := ctxT(t, 2*time.Minute)
	tok, err := oidc(t).PasswordGrant(ctx, DemoAppClientID, "", Alice, "offline_access")
	if err != nil {
		t.Fatal(err)
	}
	rc := claimsOf(t, tok.RefreshToken)
	if rc["typ"] != "Offline" {
		t.Fatalf("refresh token typ = %v, want Offline", rc["typ"])
	}
	if tok.RefreshExpiresIn != 0 {
		t.Logf("offline token refresh_expires_in = %d", tok.RefreshExpiresIn)
	}
	next, err := oidc(t).Refresh(ctx, DemoAppClientID, "", tok.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	checkAccessToken(t, kc, next.AccessToken, DemoAppClientID, DemoAppAccessTTL)

	t.Run("through the login form too", func(t *testing.T) {
		port, _ := FreePort()
		lt, err := oidc(t).Login(ctx, LoginRequest{ClientID: DemoAppClientID,
			RedirectURI: "http://127.0.0.1:" + strconv.Itoa(port) + "/callback", Scopes: []string{"offline_access"}, User: Bob})
		if err != nil {
			t.Fatal(err)
		}
		if typ := claimsOf(t, lt.RefreshToken)["typ"]; typ != "Offline" {
			t.Fatalf("refresh token typ = %v, want Offline", typ)
		}
	})
}

func TestKeycloakClientCredentials(t *testing.T) {
	kc := needKeycloak(t)
	ctx := ctxT(t, 2*time.Minute)
	tok, err := oidc(t).ClientCredentials(ctx, ServiceClientID, ServiceClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	c := checkAccessToken(t, kc, tok.AccessToken, ServiceClientID, 60*time.Second)
	if !slices.Contains(strs(claimAt(c, "realm_access", "roles")), "api-user") {
		t.Errorf("service account realm roles = %v, want api-user", claimAt(c, "realm_access", "roles"))
	}
	if cr := strs(claimAt(c, "resource_access", APIClientID, "roles")); !slices.Equal(cr, []string{"writer"}) {
		t.Errorf("service account client roles = %v, want [writer]", cr)
	}
	if _, err := oidc(t).ClientCredentials(ctx, ServiceClientID, "wrong-secret"); err == nil {
		t.Error("a wrong client secret was accepted")
	}
	if _, err := oidc(t).ClientCredentials(ctx, DemoAppClientID, ""); err == nil {
		t.Error("the public client got a client credentials token")
	}
}

// TestKeycloakKeyRotation rotates the realm's RS256 key through the admin API. It changes the
// shared Keycloak: later tokens carry the new kid, which every test must cope with anyway.
func TestKeycloakKeyRotation(t *testing.T) {
	kc := needKeycloak(t)
	ctx := ctxT(t, 2*time.Minute)
	o := oidc(t)
	before, err := o.PasswordGrant(ctx, DemoAppClientID, "", Alice)
	if err != nil {
		t.Fatal(err)
	}
	oldKID := KeyID(before.AccessToken)
	admin := NewAdmin(kc.BaseURL, RealmName)
	gotOld, newKID, err := admin.RotateRSAKey(ctx, "rotated-"+strconv.Itoa(int(time.Now().Unix())))
	if err != nil {
		t.Fatal(err)
	}
	if gotOld != oldKID || newKID == oldKID {
		t.Fatalf("rotation old/new kid = %s/%s, token had %s", gotOld, newKID, oldKID)
	}
	after, err := o.PasswordGrant(ctx, DemoAppClientID, "", Alice)
	if err != nil {
		t.Fatal(err)
	}
	if KeyID(after.AccessToken) != newKID {
		t.Errorf("new token kid = %s, want %s", KeyID(after.AccessToken), newKID)
	}
	kids, err := JWKSKeyIDs(ctx, o.JWKSURL())
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(kids, oldKID) || !slices.Contains(kids, newKID) {
		t.Errorf("JWKS kids = %v: want %s in and the disabled %s out", kids, newKID, oldKID)
	}
}
