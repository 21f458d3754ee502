// Package devissuer is a small OpenID Connect issuer for development and tests.
//
// It serves discovery, a JWKS with one RSA-2048 and one EC P-256 key, and a
// token endpoint that mints access tokens shaped like Keycloak's for the
// client_credentials and password grants of a fixed set of demo clients and
// users. Tests mint arbitrary tokens with [Issuer.Mint].
//
// It is not an identity provider: secrets are fixed, nothing is persisted but
// (optionally) the keys, and it listens on loopback addresses only.
package devissuer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gatewarden/gatewarden/jwt"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultAddr     = "127.0.0.1:0"
	DefaultTokenTTL = 5 * time.Minute // Keycloak's default access token lifespan
	DefaultAudience = "gatewarden-demo"
	DefaultAlg      = "RS256"
)

// ErrNotLoopback is returned by Start for an address that is not a loopback address.
var ErrNotLoopback = errors.New("devissuer: listen address is not a loopback address")

// ErrAlgorithm is returned for an alg other than RS256, ES256 (or "none" in Mint).
var ErrAlgorithm = errors.New("devissuer: unsupported alg")

// Client is an OAuth 2.0 confidential client of the dev issuer.
type Client struct {
	ID     string
	Secret string
	// Audience becomes the aud claim.
	Audience []string
	// Scopes the client may request; all of them are granted when the request names none.
	Scopes []string
	// RealmRoles become realm_access.roles.
	RealmRoles []string
	// ClientRoles become resource_access.<client id>.roles.
	ClientRoles map[string][]string
	// PasswordGrant allows the password grant (Keycloak's "direct access grants").
	PasswordGrant bool
}

// User is a demo user for the password grant.
type User struct {
	Username    string
	Password    string
	Subject     string // sub; a stable UUID-like id, as Keycloak uses
	Email       string
	RealmRoles  []string
	ClientRoles map[string][]string
}

// Config configures an Issuer. The zero value is usable: demo clients, fresh keys.
type Config struct {
	// Addr is the loopback host:port Start listens on; DefaultAddr when empty.
	Addr string
	// Issuer is the iss claim and the base of the endpoint URLs. Start defaults it to
	// "http://" + the bound address; New requires it.
	Issuer string
	// KeyDir holds rsa.pem and ec.pem; missing files are generated and written there.
	// Empty means fresh in-memory keys on every start.
	KeyDir string
	// TokenTTL is the lifetime of minted tokens; DefaultTokenTTL when zero.
	TokenTTL time.Duration
	// Clients replaces DemoClients() when non-nil.
	Clients []Client
	// Users replaces DemoUsers() when non-nil.
	Users []User
	// Logger receives one line per token request (never the token); slog.Default() when nil.
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// DemoClients is the fixed client set used when Config.Clients is nil.
//
//	demo-app    / demo-secret   aud gatewarden-demo, roles user, client roles read
//	demo-admin  / admin-secret  aud gatewarden-demo, roles user admin, client roles read write
//	other-app   / other-secret  aud other-api (a token the demo gateway must refuse)
func DemoClients() []Client {
	return []Client{
		{
			ID: "demo-app", Secret: "demo-secret",
			Audience:      []string{DefaultAudience},
			Scopes:        []string{"openid", "profile", "email"},
			RealmRoles:    []string{"default-roles-gatewarden", "offline_access", "user"},
			ClientRoles:   map[string][]string{DefaultAudience: {"read"}},
			PasswordGrant: true,
		},
		{
			ID: "demo-admin", Secret: "admin-secret",
			Audience:    []string{DefaultAudience},
			Scopes:      []string{"openid", "profile", "email"},
			RealmRoles:  []string{"default-roles-gatewarden", "user", "admin"},
			ClientRoles: map[string][]string{DefaultAudience: {"read", "write"}},
		},
		{
			ID: "other-app", Secret: "other-secret",
			Audience:   []string{"other-api"},
			Scopes:     []string{"profile"},
			RealmRoles: []string{"default-roles-gatewarden"},
		},
	}
}

// DemoUsers is the fixed user set used when Config.Users is nil: alice / alice.
func DemoUsers() []User {
	return []User{{
		Username:    "alice",
		Password:    "alice",
		Subject:     "6f1d3a52-8c1e-4b43-9d7a-0a1c2b3d4e5f",
		Email:       "alice@example.test",
		RealmRoles:  []string{"default-roles-gatewarden", "user"},
		ClientRoles: map[string][]string{DefaultAudience: {"read"}},
	}}
}

// Issuer is a running (or mountable) dev OIDC issuer. It is safe for concurrent use.
type Issuer struct {
	url     string
	ttl     time.Duration
	keys    keyPair
	jwks    []byte
	clients map[string]Client
	users   map[string]User
	log     *slog.Logger
	now     func() time.Time
	handler http.Handler

	mu  sync.Mutex
	srv *http.Server
	ln  net.Listener
}

// New builds an Issuer without a listener; mount [Issuer.Handler] yourself.
// cfg.Issuer is required because it goes into every token.
func New(cfg Config) (*Issuer, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("devissuer: Config.Issuer is empty; set it to the URL the handler is served at, e.g. \"http://127.0.0.1:9090\", or use Start")
	}
	return build(cfg, cfg.Issuer)
}

// Start listens on cfg.Addr (a loopback address) and serves until Close.
func Start(cfg Config) (*Issuer, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	if err := checkLoopback(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("devissuer: %w", err)
	}
	url := cfg.Issuer
	if url == "" {
		url = "http://" + ln.Addr().String()
	}
	iss, err := build(cfg, url)
	if err != nil {
		ln.Close()
		return nil, err
	}
	iss.ln = ln
	srv := &http.Server{
		Handler:           iss.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(iss.log.Handler(), slog.LevelWarn),
	}
	iss.srv = srv
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			iss.log.Error("devissuer: serve", "err", err)
		}
	}()
	return iss, nil
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("devissuer: address %q: %w; write host:port, e.g. \"127.0.0.1:9090\"", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %q; use 127.0.0.1 or [::1]", ErrNotLoopback, addr)
	}
	return nil
}

func build(cfg Config, url string) (*Issuer, error) {
	keys, err := loadOrGenerateKeys(cfg.KeyDir)
	if err != nil {
		return nil, err
	}
	jwks, err := jwt.JWKS(keys.rsa, keys.ec)
	if err != nil {
		return nil, fmt.Errorf("devissuer: build JWKS: %w", err)
	}
	iss := &Issuer{
		url:     strings.TrimSuffix(url, "/"),
		ttl:     cfg.TokenTTL,
		keys:    keys,
		jwks:    jwks,
		clients: map[string]Client{},
		users:   map[string]User{},
		log:     cfg.Logger,
		now:     cfg.Now,
	}
	if iss.ttl <= 0 {
		iss.ttl = DefaultTokenTTL
	}
	if iss.log == nil {
		iss.log = slog.Default()
	}
	if iss.now == nil {
		iss.now = time.Now
	}
	clients, users := cfg.Clients, cfg.Users
	if clients == nil {
		clients = DemoClients()
	}
	if users == nil {
		users = DemoUsers()
	}
	for _, c := range clients {
		if c.ID == "" || c.Secret == "" {
			return nil, fmt.Errorf("devissuer: client %q needs both an ID and a Secret", c.ID)
		}
		iss.clients[c.ID] = c
	}
	for _, u := range users {
		if u.Username == "" || u.Password == "" {
			return nil, fmt.Errorf("devissuer: user %q needs both a Username and a Password", u.Username)
		}
		iss.users[u.Username] = u
	}
	iss.handler = iss.routes()
	return iss, nil
}

// URL is the issuer identifier (the iss claim), without a trailing slash.
func (i *Issuer) URL() string { return i.url }

// Addr is the bound listener address, or "" for an Issuer made by New.
func (i *Issuer) Addr() string {
	if i.ln == nil {
		return ""
	}
	return i.ln.Addr().String()
}

// JWKSURL is the URL of the JWKS endpoint.
func (i *Issuer) JWKSURL() string { return i.url + jwksPath }

// TokenURL is the URL of the token endpoint.
func (i *Issuer) TokenURL() string { return i.url + tokenPath }

// JWKS returns the public key set as JSON ({"keys":[...]}); the caller may keep it.
func (i *Issuer) JWKS() []byte { return append([]byte(nil), i.jwks...) }

// SigningKey returns the issuer's key for alg ("RS256" or "ES256"). Tests copy it and
// change KeyID or Alg to build tokens the verifier must refuse.
func (i *Issuer) SigningKey(alg string) (jwt.SigningKey, error) {
	switch alg {
	case "RS256":
		return i.keys.rsa, nil
	case "ES256":
		return i.keys.ec, nil
	}
	return jwt.SigningKey{}, fmt.Errorf("%w %q; use \"RS256\" or \"ES256\"", ErrAlgorithm, alg)
}

// Handler serves the issuer's endpoints.
func (i *Issuer) Handler() http.Handler { return i.handler }

// Close stops the listener started by Start, waiting up to 5 s for requests in flight.
func (i *Issuer) Close() error {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := i.srv.Shutdown(ctx)
	i.srv = nil
	return err
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
