// Package oci ships the Gatewarden filter through container registries and fetches it
// back, in the two Wasm image formats Istio's WasmPlugin accepts:
//
//   - compat (default): an OCI image manifest with one application/vnd.oci.image.layer.v1.tar+gzip
//     layer holding plugin.wasm, annotated module.wasm.image/variant=compat;
//   - artifact: the OCI Wasm artifact with exactly two layers, the runtime config
//     (application/vnd.module.wasm.config.v1+json) and the raw module
//     (application/vnd.module.wasm.content.layer.v1+wasm).
//
// Pull also reads Docker schema 2 compat images. It verifies digests, an optional SHA256
// pin of the module, keeps a content-addressed cache, and refuses plain HTTP except to
// loopback registries or with an explicit Insecure. Credentials come from the docker
// config file. See docs/OCI.md.
package oci

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushOptions choose the image format and transport for Push.
type PushOptions struct {
	// Artifact pushes the two-layer OCI Wasm artifact instead of the compat image.
	Artifact bool
	// Insecure allows plain HTTP (and unverified TLS) to a registry that is not on
	// loopback. Loopback registries may always use plain HTTP.
	Insecure bool
	// MaxBytes refuses larger modules, so we never push what Pull would refuse.
	// 0 means DefaultMaxBytes.
	MaxBytes int64
	// Transport is the base HTTP transport (proxies, custom CAs); nil means
	// go-containerregistry's default. The plain-HTTP guard always wraps it.
	Transport http.RoundTripper
}

// Push uploads wasm as an image to ref ("REGISTRY/REPO:TAG", optionally prefixed with
// "oci://") and returns the manifest digest ("sha256:..."). The image is reproducible:
// the same module and format always give the same digest, so a digest-pinned deployment
// survives a re-push.
func Push(ctx context.Context, wasm []byte, ref string, opts PushOptions) (string, error) {
	maxBytes, err := maxOf(opts.MaxBytes)
	if err != nil {
		return "", err
	}
	if err := checkWasm(wasm, maxBytes); err != nil {
		return "", err
	}
	tag, err := parseRef(ref, opts.Insecure, true)
	if err != nil {
		return "", err
	}
	img, err := buildImage(wasm, opts.Artifact)
	if err != nil {
		return "", fmt.Errorf("oci: building image: %w", err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", fmt.Errorf("oci: hashing manifest: %w", err)
	}
	g := newGuard(opts.Transport, opts.Insecure)
	if err := remote.Write(tag, img, remoteOptions(ctx, g)...); err != nil {
		return "", classify(ctx, err, g, tag.Context().RegistryStr(), "pushing to")
	}
	return digest.String(), nil
}

func maxOf(n int64) (int64, error) {
	switch {
	case n == 0:
		return DefaultMaxBytes, nil
	case n < 0:
		return 0, fmt.Errorf("%w: MaxBytes is %d; use 0 for the default (%d) or a positive limit", ErrInvalidOptions, n, DefaultMaxBytes)
	}
	return n, nil
}
