package devissuer

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/jwt"
)

// Claims is a JWT claim set for Mint. Values are anything encoding/json accepts;
// a time.Time becomes NumericDate seconds, and a nil value removes the claim.
type Claims map[string]any

// Mint signs a token with the issuer's key for alg ("RS256", "ES256", or "none"
// for an unsigned token a verifier must refuse). It starts from the claims the
// token endpoint gives demo-app for client_credentials (iss, sub, aud, azp, exp,
// iat, jti, typ, scope, roles, ...) and applies claims on top: a key with a value
// overrides, a key with nil removes, e.g.
//
//	iss.Mint(devissuer.Claims{"exp": time.Now().Add(-time.Minute), "nbf": nil}, "ES256")
func (i *Issuer) Mint(claims Claims, alg string) (string, error) {
	if alg == "none" {
		payload, err := i.payload(claims)
		if err != nil {
			return "", err
		}
		header := b64([]byte(`{"alg":"none","typ":"JWT"}`))
		return header + "." + b64(payload) + ".", nil
	}
	key, err := i.SigningKey(alg)
	if err != nil {
		return "", err
	}
	return i.MintWithKey(claims, key)
}

// MintWithKey is Mint with an explicit signing key, e.g. a copy of
// SigningKey("RS256") with another KeyID, or a key the issuer does not publish.
func (i *Issuer) MintWithKey(claims Claims, key jwt.SigningKey) (string, error) {
	payload, err := i.payload(claims)
	if err != nil {
		return "", err
	}
	tok, err := jwt.Sign(key, payload, "")
	if err != nil {
		return "", fmt.Errorf("devissuer: sign: %w", err)
	}
	return tok, nil
}

func (i *Issuer) payload(overrides Claims) ([]byte, error) {
	c := i.clients["demo-app"]
	if c.ID == "" {
		c = DemoClients()[0]
	}
	base := i.clientClaims(c, c.Scopes, i.now())
	for k, v := range overrides {
		if v == nil {
			delete(base, k)
			continue
		}
		if t, ok := v.(time.Time); ok {
			v = t.Unix()
		}
		base[k] = v
	}
	b, err := json.Marshal(base)
	if err != nil {
		return nil, fmt.Errorf("devissuer: encode claims: %w", err)
	}
	return b, nil
}

// clientClaims are the claims of a client_credentials token, as Keycloak issues
// them for a service account.
func (i *Issuer) clientClaims(c Client, scopes []string, now time.Time) Claims {
	cl := i.common(c, scopes, now)
	cl["sub"] = serviceAccountID(c.ID)
	cl["preferred_username"] = "service-account-" + c.ID
	cl["client_id"] = c.ID
	cl["realm_access"] = map[string]any{"roles": nonNil(c.RealmRoles)}
	if ra := resourceAccess(c.ClientRoles); ra != nil {
		cl["resource_access"] = ra
	}
	return cl
}

// userClaims are the claims of a password grant token for user u via client c.
func (i *Issuer) userClaims(c Client, u User, scopes []string, now time.Time) Claims {
	cl := i.common(c, scopes, now)
	cl["sub"] = u.Subject
	cl["preferred_username"] = u.Username
	cl["sid"] = newID()
	if u.Email != "" && slices.Contains(scopes, "email") {
		cl["email"] = u.Email
		cl["email_verified"] = true
	}
	cl["realm_access"] = map[string]any{"roles": nonNil(u.RealmRoles)}
	if ra := resourceAccess(u.ClientRoles); ra != nil {
		cl["resource_access"] = ra
	}
	return cl
}

func (i *Issuer) common(c Client, scopes []string, now time.Time) Claims {
	cl := Claims{
		"iss":   i.url,
		"azp":   c.ID,
		"iat":   now.Unix(),
		"exp":   now.Add(i.ttl).Unix(),
		"jti":   newID(),
		"typ":   "Bearer",
		"scope": strings.Join(scopes, " "),
	}
	switch len(c.Audience) {
	case 0:
	case 1:
		cl["aud"] = c.Audience[0] // Keycloak writes a single audience as a string
	default:
		cl["aud"] = c.Audience
	}
	return cl
}

func resourceAccess(roles map[string][]string) map[string]any {
	if len(roles) == 0 {
		return nil
	}
	ra := make(map[string]any, len(roles))
	for client, r := range roles {
		ra[client] = map[string]any{"roles": nonNil(r)}
	}
	return ra
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// serviceAccountID is a stable UUID-shaped id for a client's service account user.
func serviceAccountID(clientID string) string {
	sum := sha256.Sum256([]byte("service-account-" + clientID))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
