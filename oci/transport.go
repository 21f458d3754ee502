package oci

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// userAgent names us in registry logs.
const userAgent = "gatewarden-oci"

// plainHTTPGuard refuses every plain-HTTP request to a host that is not loopback unless
// Insecure was given. go-containerregistry on its own falls back to HTTP for RFC 1918
// addresses and *.local names too; checking in the transport also covers redirects
// (a registry may send blob downloads to another host).
type plainHTTPGuard struct {
	base     http.RoundTripper
	insecure bool

	mu             sync.Mutex
	refused        string // first host refused, for the error message
	manifestDigest string // Docker-Content-Digest of the last manifest GET
}

func newGuard(base http.RoundTripper, insecure bool) *plainHTTPGuard {
	if base == nil {
		base = remote.DefaultTransport
	}
	if insecure {
		// Insecure means what it means for docker's insecure-registries: plain HTTP or
		// HTTPS without certificate checks. Only for *http.Transport; a caller's own
		// transport keeps its TLS settings.
		if t, ok := base.(*http.Transport); ok {
			t = t.Clone()
			if t.TLSClientConfig == nil {
				t.TLSClientConfig = &tls.Config{}
			}
			t.TLSClientConfig.InsecureSkipVerify = true // #nosec G402 -- explicit Insecure opt-in
			base = t
		}
	}
	return &plainHTTPGuard{base: base, insecure: insecure}
}

func (g *plainHTTPGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.insecure && !isLoopbackHost(req.URL.Hostname()) {
		g.mu.Lock()
		if g.refused == "" {
			g.refused = req.URL.Host
		}
		g.mu.Unlock()
		if req.Body != nil {
			_ = req.Body.Close()
		}
		return nil, fmt.Errorf("%w: %s is not a loopback address", ErrPlainHTTP, req.URL.Host)
	}
	resp, err := g.base.RoundTrip(req)
	if err == nil && req.Method == http.MethodGet && resp.StatusCode == http.StatusOK && strings.Contains(req.URL.Path, "/manifests/") {
		g.mu.Lock()
		g.manifestDigest = resp.Header.Get("Docker-Content-Digest")
		g.mu.Unlock()
	}
	return resp, err
}

// lastManifestDigest is the digest the registry claimed for the manifest it served
// ("" if it sent none). Pulls by tag have nothing else to check the body against.
func (g *plainHTTPGuard) lastManifestDigest() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.manifestDigest
}

func (g *plainHTTPGuard) refusedHost() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused
}

// isLoopbackHost reports whether plain HTTP to host stays on this machine.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func remoteOptions(ctx context.Context, g *plainHTTPGuard) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(g),
		// Reads the docker config file ($DOCKER_CONFIG/config.json or
		// ~/.docker/config.json, credential helpers included), falling back to anonymous.
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithUserAgent(userAgent),
	}
}

// parseRef accepts "oci://" in front (Istio's WasmPlugin url and our gateway config use it).
func parseRef(s string, insecure, strict bool) (name.Reference, error) {
	s = strings.TrimPrefix(s, "oci://")
	if s == "" {
		return nil, fmt.Errorf("%w: empty reference; want REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:DIGEST", ErrInvalidReference)
	}
	opts := []name.Option{name.WeakValidation}
	if strict {
		opts = []name.Option{name.StrictValidation}
	}
	if insecure {
		opts = append(opts, name.Insecure)
	}
	if strict {
		t, err := name.NewTag(s, opts...)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v; push wants REGISTRY/REPO:TAG with an explicit registry and tag", ErrInvalidReference, s, err)
		}
		return t, nil
	}
	r, err := name.ParseReference(s, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v; want REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:DIGEST", ErrInvalidReference, s, err)
	}
	return r, nil
}

// classify turns a go-containerregistry error into one wrapping our sentinels, with a hint
// on what to do next. Credentials never appear: the library redacts them from URLs.
func classify(ctx context.Context, err error, g *plainHTTPGuard, reg, action string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, ErrPlainHTTP) || g.refusedHost() != "" {
		return fmt.Errorf("%w: %s %s: registry %q only answered over plain HTTP, which is allowed for loopback addresses only; pass Insecure (--insecure) if you trust the network path: %v",
			ErrPlainHTTP, action, reg, reg, err)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: %w", action, reg, ctx.Err())
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("%w: %s %s: the registry speaks plain HTTP; pass Insecure (--insecure) if you trust the network path: %v",
			ErrPlainHTTP, action, reg, err)
	}
	if strings.Contains(err.Error(), "does not match requested digest") {
		return fmt.Errorf("%w: %s %s: the registry served a different manifest than the digest asked for; refusing it: %v",
			ErrDigestMismatch, action, reg, err)
	}
	var te *transport.Error
	if errors.As(err, &te) {
		switch te.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return fmt.Errorf("%w: %s %s: access denied (HTTP %d); log in so the docker config file has credentials for %s (docker login, or DOCKER_CONFIG pointing at a config.json): %v",
				ErrRegistry, action, reg, te.StatusCode, reg, err)
		case http.StatusNotFound:
			return fmt.Errorf("%w: %s %s: not found (HTTP 404); check the repository, tag or digest: %v", ErrRegistry, action, reg, err)
		}
	}
	return fmt.Errorf("%w: %s %s: %v", ErrRegistry, action, reg, err)
}
