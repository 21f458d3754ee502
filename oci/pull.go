package oci

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Pull policies, with the meaning Istio's WasmPlugin imagePullPolicy gives them.
const (
	// PolicyIfNotPresent uses the cached module for a digest, or for a tag pulled before,
	// without contacting the registry.
	PolicyIfNotPresent = "IfNotPresent"
	// PolicyAlways asks the registry for the manifest every time; the layers are still
	// served from the cache when the manifest digest is already known.
	PolicyAlways = "Always"
)

// PullOptions control Pull. The zero value pulls over HTTPS (or plain HTTP to loopback)
// without a cache.
type PullOptions struct {
	// CacheDir keeps pulled modules keyed by digest; "" disables the cache.
	CacheDir string
	// Policy is PolicyIfNotPresent or PolicyAlways. "" means IfNotPresent, except for
	// the tag "latest", which means Always (as in Istio).
	Policy string
	// SHA256 pins the module (hex, optionally "sha256:"-prefixed): either the sha256 of the
	// .wasm itself, or the manifest digest, which is what Istio compares WasmPlugin.sha256
	// with for oci:// urls, so the same value works in both places. Both pin the module:
	// the manifest names the layer digests and every blob is checked against its digest.
	// A module that matches neither is refused, from the registry or from the cache.
	SHA256 string
	// Insecure allows plain HTTP (and unverified TLS) to a registry that is not on loopback.
	Insecure bool
	// MaxBytes bounds the module (and so every layer and the decompressed tar);
	// 0 means DefaultMaxBytes.
	MaxBytes int64
	// Transport is the base HTTP transport; nil means go-containerregistry's default.
	// The plain-HTTP guard always wraps it.
	Transport http.RoundTripper
}

// Module is a pulled Wasm module and where it came from.
type Module struct {
	Wasm   []byte
	Digest string // manifest digest, "sha256:<hex>"
	SHA256 string // hex sha256 of Wasm
	Format string // FormatCompat, FormatCompatDocker or FormatArtifact
	Cached bool   // served from CacheDir without downloading layers
}

// Pull fetches the module of ref ("REGISTRY/REPO:TAG" or "REGISTRY/REPO@sha256:DIGEST",
// optionally prefixed with "oci://"). It is PullModule for callers that only want bytes:
// the gateway calls it for a plugin `path: oci://...`.
func Pull(ctx context.Context, ref string, opts PullOptions) ([]byte, error) {
	m, err := PullModule(ctx, ref, opts)
	if err != nil {
		return nil, err
	}
	return m.Wasm, nil
}

// PullModule fetches and verifies the module of ref. Checks, in order: a digest
// reference must match the manifest it gets; each blob must match its digest; the image
// must be a format Istio accepts; the module must be WebAssembly within MaxBytes; and it
// must match the SHA256 pin. Any failure returns an error and no module.
func PullModule(ctx context.Context, ref string, opts PullOptions) (*Module, error) {
	maxBytes, err := maxOf(opts.MaxBytes)
	if err != nil {
		return nil, err
	}
	pin, err := normalizePin(opts.SHA256)
	if err != nil {
		return nil, err
	}
	r, err := parseRef(ref, opts.Insecure, false)
	if err != nil {
		return nil, err
	}
	policy, err := resolvePolicy(opts.Policy, r)
	if err != nil {
		return nil, err
	}
	var c *cache
	if opts.CacheDir != "" {
		if c, err = openCache(opts.CacheDir); err != nil {
			return nil, err
		}
	}
	refName, wantManifest := r.Name(), ""
	if d, ok := r.(name.Digest); ok {
		refName, wantManifest = "", strings.TrimPrefix(d.DigestStr(), "sha256:")
	}

	if c != nil && policy == PolicyIfNotPresent {
		mh := wantManifest
		if mh == "" {
			mh, _ = c.tag(refName)
		}
		// A cached module that misses the pin is not an answer: the tag may have moved
		// to the pinned build, so ask the registry.
		if m, ok := c.manifest(mh, maxBytes); ok && pinMatches(pin, mh, m.wasmHex) {
			return &Module{Wasm: m.wasm, Digest: "sha256:" + mh, SHA256: m.wasmHex, Format: m.format, Cached: true}, nil
		}
	}

	reg := r.Context().RegistryStr()
	g := newGuard(opts.Transport, opts.Insecure)
	ropts := remoteOptions(ctx, g)
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, classify(ctx, err, g, reg, "fetching manifest from")
	}
	manifestHex := sha256Hex(desc.Manifest)
	if wantManifest != "" && manifestHex != wantManifest {
		return nil, fmt.Errorf("%w: %s served a manifest with digest sha256:%s for %s; refusing it", ErrDigestMismatch, reg, manifestHex, r)
	}
	if claimed := g.lastManifestDigest(); claimed != "" && claimed != "sha256:"+manifestHex {
		return nil, fmt.Errorf("%w: %s says the manifest of %s is %s but it hashes to sha256:%s; its storage is corrupt or tampered with",
			ErrDigestMismatch, reg, r, claimed, manifestHex)
	}
	if desc.Digest.Hex != manifestHex {
		return nil, fmt.Errorf("%w: %s reported digest %s for a manifest that hashes to sha256:%s; refusing it", ErrDigestMismatch, reg, desc.Digest, manifestHex)
	}

	if c != nil {
		if m, ok := c.manifest(manifestHex, maxBytes); ok {
			if !pinMatches(pin, manifestHex, m.wasmHex) {
				return nil, pinError(r, manifestHex, m.wasmHex, pin)
			}
			if err := c.storeTag(refName, manifestHex); err != nil {
				return nil, err
			}
			return &Module{Wasm: m.wasm, Digest: "sha256:" + manifestHex, SHA256: m.wasmHex, Format: m.format, Cached: true}, nil
		}
	}

	fetch := func(d v1.Descriptor, limit int64) ([]byte, error) {
		return fetchBlob(ctx, r.Context(), d, limit, ropts, g)
	}
	wasm, format, err := extractWasm(desc.MediaType, desc.Manifest, fetch, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", r, err)
	}
	if err := checkWasm(wasm, maxBytes); err != nil {
		return nil, fmt.Errorf("pulling %s: %w", r, err)
	}
	m := cached{wasm: wasm, wasmHex: sha256Hex(wasm), format: format}
	if !pinMatches(pin, manifestHex, m.wasmHex) {
		return nil, pinError(r, manifestHex, m.wasmHex, pin)
	}
	if c != nil {
		if err := c.store(manifestHex, refName, m); err != nil {
			return nil, fmt.Errorf("pulled %s but could not cache it (fix the permissions of %q or unset CacheDir): %w", r, opts.CacheDir, err)
		}
	}
	return &Module{Wasm: wasm, Digest: "sha256:" + manifestHex, SHA256: m.wasmHex, Format: format}, nil
}

// pinMatches: no pin, or the pin names the module or the manifest that yields it.
func pinMatches(pin, manifestHex, wasmHex string) bool {
	return pin == "" || pin == wasmHex || pin == manifestHex
}

func pinError(r name.Reference, manifestHex, got, want string) error {
	return fmt.Errorf("%w: %s has wasm sha256 %s and manifest digest sha256:%s, pinned %s; refusing it (update the pin only if you trust the new build)",
		ErrSHA256Mismatch, r, got, manifestHex, want)
}

// fetchBlob downloads one blob and checks its size and digest ourselves, so a tampered
// blob is reported as ErrDigestMismatch whatever the library's own check says.
func fetchBlob(ctx context.Context, repo name.Repository, d v1.Descriptor, limit int64, ropts []remote.Option, g *plainHTTPGuard) ([]byte, error) {
	if d.Digest.Algorithm != "sha256" || !isHex64(d.Digest.Hex) {
		return nil, fmt.Errorf("%w: layer digest %q is not sha256", ErrUnsupportedFormat, d.Digest)
	}
	if d.Size < 0 || d.Size > limit {
		return nil, fmt.Errorf("%w: layer %s is %d bytes, limit is %d (raise MaxBytes if this is intended)", ErrTooLarge, d.Digest, d.Size, limit)
	}
	reg := repo.RegistryStr()
	l, err := remote.Layer(repo.Digest(d.Digest.String()), ropts...)
	if err != nil {
		return nil, classify(ctx, err, g, reg, "fetching layer from")
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, classify(ctx, err, g, reg, "fetching layer from")
	}
	defer rc.Close()
	h := sha256.New()
	buf := bytes.NewBuffer(make([]byte, 0, d.Size+bytes.MinRead)) // one allocation, d.Size <= limit
	_, err = buf.ReadFrom(io.TeeReader(io.LimitReader(rc, limit+1), h))
	b := buf.Bytes()
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: layer %s is larger than %d bytes", ErrTooLarge, d.Digest, limit)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != d.Digest.Hex && (err == nil || int64(len(b)) == d.Size) {
		return nil, fmt.Errorf("%w: layer %s from %s hashes to sha256:%s; the registry or its storage is corrupt or tampered with", ErrDigestMismatch, d.Digest, reg, got)
	}
	if err != nil {
		return nil, classify(ctx, err, g, reg, "reading layer from")
	}
	if int64(len(b)) != d.Size {
		return nil, fmt.Errorf("%w: layer %s is %d bytes, the manifest says %d", ErrDigestMismatch, d.Digest, len(b), d.Size)
	}
	return b, nil
}

func normalizePin(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	p := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "sha256:"))
	if !isHex64(p) {
		return "", fmt.Errorf("%w: SHA256 pin %q is not 64 hex digits; use the output of `sha256sum plugin.wasm` or of `gatewarden oci push`", ErrInvalidOptions, s)
	}
	return p, nil
}

func resolvePolicy(p string, r name.Reference) (string, error) {
	switch {
	case p == "":
		if t, ok := r.(name.Tag); ok && t.TagStr() == "latest" {
			return PolicyAlways, nil
		}
		return PolicyIfNotPresent, nil
	case strings.EqualFold(p, PolicyIfNotPresent):
		return PolicyIfNotPresent, nil
	case strings.EqualFold(p, PolicyAlways):
		return PolicyAlways, nil
	}
	return "", fmt.Errorf("%w: pull policy %q; use %q or %q", ErrInvalidOptions, p, PolicyIfNotPresent, PolicyAlways)
}
