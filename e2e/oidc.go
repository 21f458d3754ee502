package e2e

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Tokens is a token endpoint response.
type Tokens struct {
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	IDToken          string `json:"id_token"`
	TokenType        string `json:"token_type"`
	Scope            string `json:"scope"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
}

// OAuthError is an error response of the token endpoint (RFC 6749 section 5.2).
type OAuthError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *OAuthError) Error() string {
	return fmt.Sprintf("token endpoint: %d %s: %s", e.Status, e.Code, e.Description)
}

// OIDC is a client of one Keycloak realm's OpenID Connect endpoints, as an app would use them.
type OIDC struct {
	BaseURL string // http://127.0.0.1:PORT
	Realm   string
	HTTP    *http.Client // nil = a client with a 30 s timeout
}

func (c *OIDC) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	// Generous: a cold Keycloak JIT-compiles its first token request on a busy 2-core machine.
	return &http.Client{Timeout: 30 * time.Second}
}

// Issuer is the realm's issuer URL.
func (c *OIDC) Issuer() string { return c.BaseURL + "/realms/" + c.Realm }

// TokenURL is the realm's token endpoint.
func (c *OIDC) TokenURL() string { return c.Issuer() + "/protocol/openid-connect/token" }

// AuthURL is the realm's authorization endpoint.
func (c *OIDC) AuthURL() string { return c.Issuer() + "/protocol/openid-connect/auth" }

// JWKSURL is the realm's JWKS endpoint.
func (c *OIDC) JWKSURL() string { return c.Issuer() + "/protocol/openid-connect/certs" }

func (c *OIDC) token(ctx context.Context, form url.Values) (*Tokens, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		e := &OAuthError{Status: resp.StatusCode}
		_ = json.Unmarshal(body, e)
		return nil, e
	}
	var t Tokens
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, fmt.Errorf("token endpoint: bad JSON: %w", err)
	}
	if t.AccessToken == "" {
		return nil, errors.New("token endpoint: no access_token in the response")
	}
	return &t, nil
}

// PasswordGrant uses the resource owner password grant (Keycloak "direct access grants").
func (c *OIDC) PasswordGrant(ctx context.Context, clientID, secret string, u User, scopes ...string) (*Tokens, error) {
	f := url.Values{"grant_type": {"password"}, "client_id": {clientID}, "username": {u.Name}, "password": {u.Password}}
	if secret != "" {
		f.Set("client_secret", secret)
	}
	if len(scopes) > 0 {
		f.Set("scope", strings.Join(scopes, " "))
	}
	return c.token(ctx, f)
}

// ClientCredentials gets a service account token for a confidential client.
func (c *OIDC) ClientCredentials(ctx context.Context, clientID, secret string, scopes ...string) (*Tokens, error) {
	f := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}
	if len(scopes) > 0 {
		f.Set("scope", strings.Join(scopes, " "))
	}
	return c.token(ctx, f)
}

// Refresh exchanges a refresh or offline token for new tokens.
func (c *OIDC) Refresh(ctx context.Context, clientID, secret, refreshToken string) (*Tokens, error) {
	f := url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {refreshToken}}
	if secret != "" {
		f.Set("client_secret", secret)
	}
	return c.token(ctx, f)
}

// LoginRequest describes an authorization code login through the realm's login page.
type LoginRequest struct {
	ClientID    string
	RedirectURI string   // must match the client's redirect URIs; never dereferenced
	Scopes      []string // "openid" is always requested
	User        User
}

// ErrLoginRejected means Keycloak's login page answered the form with an error (for example a
// wrong password) instead of redirecting back with a code.
var ErrLoginRejected = errors.New("login rejected")

// Login runs the authorization code flow with PKCE (S256) the way a browser would: it opens the
// authorization endpoint, fills Keycloak's real login form (cookies kept in a jar, the form's
// action parsed from the page), follows the redirect to RedirectURI only far enough to read the
// code, checks state, and exchanges the code at the token endpoint.
func (c *OIDC) Login(ctx context.Context, r LoginRequest) (*Tokens, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	browser := &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second, // the first login page render compiles the theme templates
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), r.RedirectURI) {
				return http.ErrUseLastResponse // the app's callback: read the code, don't call it
			}
			if len(via) > 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	state, nonce := randomString(24), randomString(24)
	verifier := randomString(48) // RFC 7636: 43..128 characters
	sum := sha256.Sum256([]byte(verifier))
	scopes := append([]string{"openid"}, r.Scopes...)
	q := url.Values{
		"client_id":             {r.ClientID},
		"response_type":         {"code"},
		"redirect_uri":          {r.RedirectURI},
		"scope":                 {strings.Join(scopes, " ")},
		"state":                 {state},
		"nonce":                 {nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	resp, err := get(ctx, browser, c.AuthURL()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("authorization endpoint: %w", err)
	}
	if resp.StatusCode == http.StatusOK { // the login page; a live SSO session redirects at once
		action, err := LoginFormAction(resp.body)
		if err != nil {
			return nil, err
		}
		form := url.Values{"username": {r.User.Name}, "password": {r.User.Password}, "credentialId": {""}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, action, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, err = do(browser, req); err != nil {
			return nil, fmt.Errorf("login form: %w", err)
		}
		if resp.StatusCode == http.StatusOK { // the page again, with an error message
			return nil, fmt.Errorf("%w: %s", ErrLoginRejected, LoginPageError(resp.body))
		}
	}
	code, err := codeFromRedirect(resp, r.RedirectURI, state)
	if err != nil {
		return nil, err
	}
	return c.token(ctx, url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {r.ClientID},
		"code":          {code},
		"redirect_uri":  {r.RedirectURI},
		"code_verifier": {verifier},
	})
}

type page struct {
	*http.Response
	body []byte
}

func get(ctx context.Context, c *http.Client, u string) (*page, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	return do(c, req)
}

func do(c *http.Client, req *http.Request) (*page, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return &page{resp, body}, nil
}

// codeFromRedirect reads code and state from a redirect to the app's callback.
func codeFromRedirect(p *page, redirectURI, state string) (string, error) {
	if p.StatusCode != http.StatusFound && p.StatusCode != http.StatusSeeOther {
		return "", fmt.Errorf("want a redirect to %s, got status %d", redirectURI, p.StatusCode)
	}
	loc, err := p.Location()
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(loc.String(), redirectURI) {
		return "", fmt.Errorf("redirected to %s, want %s", loc, redirectURI)
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return "", fmt.Errorf("authorization error %s: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state {
		return "", fmt.Errorf("state mismatch in redirect: got %q", q.Get("state"))
	}
	if q.Get("code") == "" {
		return "", errors.New("redirect carries no code")
	}
	return q.Get("code"), nil
}

var (
	loginFormRE = regexp.MustCompile(`(?is)<form\b[^>]*\bid="kc-form-login"[^>]*>`)
	actionRE    = regexp.MustCompile(`(?is)\baction="([^"]*)"`)
	feedbackRE  = regexp.MustCompile(`(?is)<span[^>]*\bid="input-error(?:-username)?"[^>]*>(.*?)</span>|<span[^>]*class="[^"]*kc-feedback-text[^"]*"[^>]*>(.*?)</span>`)
	tagRE       = regexp.MustCompile(`<[^>]*>`)
)

// LoginFormAction returns the absolute action URL of Keycloak's login form (id kc-form-login)
// with HTML entities decoded.
func LoginFormAction(page []byte) (string, error) {
	form := loginFormRE.Find(page)
	if form == nil {
		return "", errors.New("no Keycloak login form (form#kc-form-login) on the page; is the client's redirect URI allowed?")
	}
	m := actionRE.FindSubmatch(form)
	if m == nil {
		return "", errors.New("the login form has no action attribute")
	}
	action := html.UnescapeString(string(m[1]))
	u, err := url.Parse(action)
	if err != nil || !u.IsAbs() {
		return "", fmt.Errorf("login form action %q is not an absolute URL", action)
	}
	return action, nil
}

// LoginPageError extracts the error message a Keycloak login page shows, or a placeholder.
func LoginPageError(page []byte) string {
	if m := feedbackRE.FindSubmatch(page); m != nil {
		for _, g := range m[1:] {
			if s := strings.TrimSpace(html.UnescapeString(tagRE.ReplaceAllString(string(g), ""))); s != "" {
				return s
			}
		}
	}
	return "the login page showed no error message"
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeClaims returns a JWT's payload without verifying it. Tests use it to look at what
// Keycloak issued; the gateway under test is what verifies.
func DecodeClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("not a JWS compact token: %d parts", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	return m, nil
}

// DecodeHeader returns a JWT's JOSE header without verifying it.
func DecodeHeader(token string) (map[string]any, error) {
	h, _, ok := strings.Cut(token, ".")
	if !ok {
		return nil, errors.New("not a JWS compact token")
	}
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	return m, nil
}

// KeyID returns a JWT's kid header ("" when absent or unreadable).
func KeyID(token string) string {
	h, err := DecodeHeader(token)
	if err != nil {
		return ""
	}
	kid, _ := h["kid"].(string)
	return kid
}
