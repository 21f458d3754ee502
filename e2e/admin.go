package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// Admin is a client of Keycloak's admin REST API for one realm, authenticated as the bootstrap
// admin of the master realm (password grant on admin-cli).
type Admin struct {
	BaseURL  string
	Realm    string
	User     User
	HTTP     *http.Client
	token    string
	tokenExp time.Time
}

// NewAdmin returns an admin client for realm on the Keycloak at baseURL.
func NewAdmin(baseURL, realm string) *Admin {
	return &Admin{BaseURL: baseURL, Realm: realm, User: User{AdminUser, AdminPassword}, HTTP: &http.Client{Timeout: 15 * time.Second}}
}

func (a *Admin) accessToken(ctx context.Context) (string, error) {
	if a.token != "" && time.Now().Before(a.tokenExp) {
		return a.token, nil
	}
	master := &OIDC{BaseURL: a.BaseURL, Realm: "master", HTTP: a.HTTP}
	t, err := master.PasswordGrant(ctx, "admin-cli", "", a.User)
	if err != nil {
		return "", fmt.Errorf("admin login: %w", err)
	}
	a.token = t.AccessToken
	a.tokenExp = time.Now().Add(time.Duration(t.ExpiresIn)*time.Second - 5*time.Second)
	return a.token, nil
}

// do calls the admin API at /admin/realms/<realm><rel>; in and out are JSON (nil to skip).
// It returns the response's Location header (set on creates).
func (a *Admin) do(ctx context.Context, method, rel string, in, out any) (string, error) {
	tok, err := a.accessToken(ctx)
	if err != nil {
		return "", err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return "", err
		}
		body = bytes.NewReader(b)
	}
	u := a.BaseURL + "/admin/realms/" + url.PathEscape(a.Realm) + rel
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.HTTP.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", err
	}
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("admin API %s %s: %d %s", method, rel, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return "", fmt.Errorf("admin API %s %s: bad JSON: %w", method, rel, err)
		}
	}
	return resp.Header.Get("Location"), nil
}

// RealmID returns the realm's internal id (the parent of its key provider components).
func (a *Admin) RealmID(ctx context.Context) (string, error) {
	var r struct {
		ID string `json:"id"`
	}
	if _, err := a.do(ctx, http.MethodGet, "", nil, &r); err != nil {
		return "", err
	}
	return r.ID, nil
}

// Component is a Keycloak component (here: key providers).
type Component struct {
	ID           string              `json:"id,omitempty"`
	Name         string              `json:"name"`
	ProviderID   string              `json:"providerId"`
	ProviderType string              `json:"providerType"`
	ParentID     string              `json:"parentId"`
	Config       map[string][]string `json:"config"`
}

const keyProviderType = "org.keycloak.keys.KeyProvider"

// KeyProviders lists the realm's key provider components.
func (a *Admin) KeyProviders(ctx context.Context) ([]Component, error) {
	var cs []Component
	_, err := a.do(ctx, http.MethodGet, "/components?type="+url.QueryEscape(keyProviderType), nil, &cs)
	return cs, err
}

// RealmKey is one entry of GET /admin/realms/<realm>/keys.
type RealmKey struct {
	KID              string `json:"kid"`
	Algorithm        string `json:"algorithm"`
	Type             string `json:"type"`
	Use              string `json:"use"`
	Status           string `json:"status"`     // ACTIVE, PASSIVE, DISABLED
	ProviderID       string `json:"providerId"` // the component id
	ProviderPriority int64  `json:"providerPriority"`
}

// Keys lists the realm's keys with their kid and status.
func (a *Admin) Keys(ctx context.Context) ([]RealmKey, error) {
	var r struct {
		Keys []RealmKey `json:"keys"`
	}
	_, err := a.do(ctx, http.MethodGet, "/keys", nil, &r)
	return r.Keys, err
}

// AddRSAKey creates a new rsa-generated RS256 signing key provider with the given priority
// (the active key with the highest priority signs new tokens) and returns its component id.
func (a *Admin) AddRSAKey(ctx context.Context, name string, priority int) (string, error) {
	realmID, err := a.RealmID(ctx)
	if err != nil {
		return "", err
	}
	c := Component{
		Name: name, ProviderID: "rsa-generated", ProviderType: keyProviderType, ParentID: realmID,
		Config: map[string][]string{
			"priority": {strconv.Itoa(priority)}, "enabled": {"true"}, "active": {"true"},
			"algorithm": {"RS256"}, "keySize": {"2048"},
		},
	}
	loc, err := a.do(ctx, http.MethodPost, "/components", c, nil)
	if err != nil {
		return "", err
	}
	if loc == "" {
		return "", fmt.Errorf("admin API: create component %q returned no Location", name)
	}
	return path.Base(loc), nil
}

// SetKeyProvider changes a key provider's enabled flag (a disabled key leaves the JWKS) and
// active flag (an inactive, enabled key stays in the JWKS for verification but signs nothing).
func (a *Admin) SetKeyProvider(ctx context.Context, id string, enabled, active bool) error {
	var c Component
	if _, err := a.do(ctx, http.MethodGet, "/components/"+url.PathEscape(id), nil, &c); err != nil {
		return err
	}
	if c.Config == nil {
		c.Config = map[string][]string{}
	}
	c.Config["enabled"] = []string{strconv.FormatBool(enabled)}
	c.Config["active"] = []string{strconv.FormatBool(active)}
	_, err := a.do(ctx, http.MethodPut, "/components/"+url.PathEscape(id), c, nil)
	return err
}

// RotateRSAKey adds a new RS256 key that outranks every existing one, then disables the key
// provider that signed before. It returns the old and the new signing kid.
func (a *Admin) RotateRSAKey(ctx context.Context, name string) (oldKID, newKID string, err error) {
	keys, err := a.Keys(ctx)
	if err != nil {
		return "", "", err
	}
	old := activeRS256(keys)
	if old == nil {
		return "", "", fmt.Errorf("realm %s has no active RS256 key", a.Realm)
	}
	var top int64
	for _, k := range keys {
		top = max(top, k.ProviderPriority)
	}
	id, err := a.AddRSAKey(ctx, name, int(top)+100)
	if err != nil {
		return "", "", err
	}
	if err := a.SetKeyProvider(ctx, old.ProviderID, false, false); err != nil {
		return "", "", err
	}
	keys, err = a.Keys(ctx)
	if err != nil {
		return "", "", err
	}
	cur := activeRS256(keys)
	if cur == nil || cur.ProviderID != id {
		return "", "", fmt.Errorf("after rotation the active RS256 key is %+v, want provider %s", cur, id)
	}
	return old.KID, cur.KID, nil
}

// activeRS256 returns the active RS256 signing key with the highest priority.
func activeRS256(keys []RealmKey) *RealmKey {
	var best *RealmKey
	for i := range keys {
		k := &keys[i]
		if k.Algorithm != "RS256" || k.Status != "ACTIVE" || (k.Use != "" && k.Use != "SIG") {
			continue
		}
		if best == nil || k.ProviderPriority > best.ProviderPriority {
			best = k
		}
	}
	return best
}

// JWKSKeyIDs fetches a JWKS URL and returns the kids it lists.
func JWKSKeyIDs(ctx context.Context, jwksURL string) ([]string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, jwksURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return nil, fmt.Errorf("JWKS %s: %w", jwksURL, err)
	}
	ids := make([]string, 0, len(set.Keys))
	for _, k := range set.Keys {
		ids = append(ids, k.KID)
	}
	return ids, nil
}
