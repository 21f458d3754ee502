package devissuer

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/gatewarden/gatewarden/jwt"
)

// Endpoint paths. Keycloak's paths (/protocol/openid-connect/...) are served too,
// so configs written for a Keycloak realm work against the dev issuer.
const (
	discoveryPath = "/.well-known/openid-configuration"
	jwksPath      = "/jwks"
	tokenPath     = "/token"
	kcJWKSPath    = "/protocol/openid-connect/certs"
	kcTokenPath   = "/protocol/openid-connect/token"
)

const maxFormBytes = 64 << 10

func (i *Issuer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+discoveryPath, i.serveDiscovery)
	mux.HandleFunc("GET "+jwksPath, i.serveJWKS)
	mux.HandleFunc("GET "+kcJWKSPath, i.serveJWKS)
	mux.HandleFunc(tokenPath, i.serveToken)
	mux.HandleFunc(kcTokenPath, i.serveToken)
	mux.HandleFunc("GET /{$}", i.serveIndex)
	return mux
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                i.url,
		"jwks_uri":                              i.url + jwksPath,
		"token_endpoint":                        i.url + tokenPath,
		"grant_types_supported":                 []string{"client_credentials", "password"},
		"response_types_supported":              []string{"token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"scopes_supported":                      []string{"openid", "profile", "email"},
		"claims_supported": []string{"iss", "sub", "aud", "azp", "exp", "iat", "jti", "typ",
			"scope", "realm_access", "resource_access", "preferred_username", "email"},
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.Header().Set("Cache-Control", "max-age=60")
	_, _ = w.Write(i.jwks)
}

func (i *Issuer) serveIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "gatewarden dev issuer %s (for development only)\n\n", i.url)
	fmt.Fprintf(w, "discovery: %s%s\njwks:      %s%s\ntoken:     %s%s\n\n", i.url, discoveryPath, i.url, jwksPath, i.url, tokenPath)
	fmt.Fprintf(w, "get a token (add -H 'Accept: text/plain' for the bare token, -d alg=ES256 for an EC signature):\n")
	fmt.Fprintf(w, "  curl -s -d grant_type=client_credentials -d client_id=demo-app -d client_secret=demo-secret %s%s\n", i.url, tokenPath)
}

// tokenError is an RFC 6749 section 5.2 error response.
type tokenError struct {
	status int
	code   string // error
	desc   string // error_description
}

func (e *tokenError) Error() string { return e.code + ": " + e.desc }

func badRequest(code, format string, a ...any) *tokenError {
	return &tokenError{status: http.StatusBadRequest, code: code, desc: fmt.Sprintf(format, a...)}
}

func (i *Issuer) serveToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{
			"error": "invalid_request", "error_description": "use POST with an application/x-www-form-urlencoded body",
		})
		return
	}
	resp, terr := i.token(w, r)
	if terr != nil {
		i.log.Info("devissuer: token request refused", "error", terr.code, "description", terr.desc)
		if terr.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Basic realm="devissuer"`)
		}
		writeJSON(w, terr.status, map[string]string{"error": terr.code, "error_description": terr.desc})
		return
	}
	if wantsText(r) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte(resp.AccessToken + "\n"))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

// wantsText reports whether the client asked for the bare token (Accept: text/plain),
// which lets shell users write TOKEN=$(curl -H 'Accept: text/plain' ...) without jq.
func wantsText(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && mt == "text/plain" {
			return true
		}
	}
	return false
}

type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
}

func (i *Issuer) token(w http.ResponseWriter, r *http.Request) (*tokenResponse, *tokenError) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("invalid_request", "Content-Type must be application/x-www-form-urlencoded (curl -d does that)")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, badRequest("invalid_request", "cannot parse the form body: %v", err)
	}
	form := r.PostForm
	for k, v := range form {
		if len(v) > 1 { // RFC 6749 section 3.2
			return nil, badRequest("invalid_request", "parameter %q is repeated; send it once", k)
		}
	}
	client, terr := i.authenticate(r, form)
	if terr != nil {
		return nil, terr
	}
	scopes, terr := grantedScopes(client, form.Get("scope"))
	if terr != nil {
		return nil, terr
	}
	alg := form.Get("alg")
	if alg == "" {
		alg = DefaultAlg
	}
	key, err := i.SigningKey(alg)
	if err != nil {
		return nil, badRequest("invalid_request", "alg %q is not supported; use RS256 or ES256", alg)
	}

	now := i.now()
	var claims Claims
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
		claims = i.clientClaims(client, scopes, now)
	case "password":
		if !client.PasswordGrant {
			return nil, badRequest("unauthorized_client", "client %q may not use the password grant; use demo-app", client.ID)
		}
		u, ok := i.users[form.Get("username")]
		if !ok || subtle.ConstantTimeCompare([]byte(u.Password), []byte(form.Get("password"))) != 1 {
			return nil, badRequest("invalid_grant", "invalid user credentials")
		}
		claims = i.userClaims(client, u, scopes, now)
	case "":
		return nil, badRequest("invalid_request", "grant_type is missing; send grant_type=client_credentials")
	default:
		return nil, badRequest("unsupported_grant_type", "grant_type %q is not supported; use client_credentials or password", gt)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return nil, &tokenError{status: http.StatusInternalServerError, code: "server_error", desc: "cannot encode claims"}
	}
	tok, err := jwt.Sign(key, payload, "")
	if err != nil {
		return nil, &tokenError{status: http.StatusInternalServerError, code: "server_error", desc: "cannot sign the token"}
	}
	i.log.Info("devissuer: token issued", "client_id", client.ID, "grant_type", form.Get("grant_type"),
		"alg", alg, "sub", claims["sub"], "jti", claims["jti"])
	return &tokenResponse{
		AccessToken: tok,
		TokenType:   "Bearer",
		ExpiresIn:   int64(i.ttl.Seconds()),
		Scope:       strings.Join(scopes, " "),
	}, nil
}

// authenticate checks client_secret_basic or client_secret_post (exactly one).
func (i *Issuer) authenticate(r *http.Request, form url.Values) (Client, *tokenError) {
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 section 2.3.1: both parts are form-urlencoded before base64.
		var err1, err2 error
		id, err1 = url.QueryUnescape(id)
		secret, err2 = url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return Client{}, badRequest("invalid_request", "the Basic credentials are not form-urlencoded")
		}
		if form.Has("client_secret") {
			return Client{}, badRequest("invalid_request", "send the client secret once: either HTTP Basic or client_secret, not both")
		}
		if fid := form.Get("client_id"); fid != "" && fid != id {
			return Client{}, badRequest("invalid_request", "client_id %q differs from the HTTP Basic user", fid)
		}
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
		if id == "" {
			return Client{}, badRequest("invalid_request", "client_id is missing; send -d client_id=demo-app -d client_secret=demo-secret")
		}
	}
	c, ok := i.clients[id]
	// Compare even for unknown clients so timing does not reveal which ids exist.
	want := c.Secret
	if !ok {
		want = "\x00unknown-client"
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(secret)) != 1 || !ok {
		return Client{}, &tokenError{status: http.StatusUnauthorized, code: "invalid_client", desc: "unknown client or wrong secret"}
	}
	return c, nil
}

func grantedScopes(c Client, requested string) ([]string, *tokenError) {
	req := strings.Fields(requested)
	if len(req) == 0 {
		return slices.Clone(c.Scopes), nil
	}
	var out []string
	for _, s := range req {
		if !slices.Contains(c.Scopes, s) {
			return nil, badRequest("invalid_scope", "scope %q is not allowed for client %q; allowed: %s", s, c.ID, strings.Join(c.Scopes, " "))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}
