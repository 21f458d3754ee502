package oci

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types, file names and annotations of the two Wasm image formats Istio accepts
// (istio/istio pkg/wasm/imagefetcher.go; solo-io/wasm spec/spec.md and spec/spec-compat.md).
const (
	// MediaTypeWasmContent is the layer of the OCI Wasm artifact that holds the raw module.
	MediaTypeWasmContent types.MediaType = "application/vnd.module.wasm.content.layer.v1+wasm"
	// MediaTypeWasmConfig is the runtime-config layer of the OCI Wasm artifact. Istio wants
	// it as a layer (the artifact has exactly two), not as the manifest's config.
	MediaTypeWasmConfig types.MediaType = "application/vnd.module.wasm.config.v1+json"
	// AnnotationVariant is the manifest annotation the compat spec requires on OCI images.
	AnnotationVariant = "module.wasm.image/variant"
	// VariantCompat is the value of AnnotationVariant for compat images.
	VariantCompat = "compat"
	// PluginFileName is the file Istio looks for (by base name) in a compat image's layer.
	PluginFileName = "plugin.wasm"
	// DefaultMaxBytes bounds a module when PushOptions/PullOptions.MaxBytes is 0. Our Go
	// filter is a few MB; 64 MiB leaves room while keeping a hostile registry from
	// exhausting memory.
	DefaultMaxBytes int64 = 64 << 20
)

// Formats reported in Module.Format.
const (
	FormatCompat       = "compat"        // OCI manifest, last layer tar+gzip with plugin.wasm
	FormatCompatDocker = "compat-docker" // Docker schema 2 manifest, last layer rootfs tar.gzip
	FormatArtifact     = "artifact"      // OCI manifest, two layers, raw module + runtime config
)

const (
	annotationTitle = "org.opencontainers.image.title"
	// tarOverhead is what a layer may carry on top of the module: tar headers, padding,
	// gzip framing and small extra files such as runtime-config.json.
	tarOverhead = 1 << 20
	// maxManifestBytes bounds manifests we parse; ours are well under 1 KiB.
	maxManifestBytes = 4 << 20
)

var wasmMagic = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// checkWasm accepts only core WebAssembly binary modules (magic + version 1) within max.
func checkWasm(b []byte, maxBytes int64) error {
	if int64(len(b)) > maxBytes {
		return fmt.Errorf("%w: module is %d bytes, limit is %d (raise MaxBytes if this is intended)", ErrTooLarge, len(b), maxBytes)
	}
	if len(b) < len(wasmMagic) || !bytes.Equal(b[:len(wasmMagic)], wasmMagic) {
		head := b
		if len(head) > 8 {
			head = head[:8]
		}
		return fmt.Errorf("%w: first bytes are %q, want \"\\x00asm\" version 1 (build with GOOS=wasip1 GOARCH=wasm)", ErrNotWasm, head)
	}
	return nil
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func sha256Hash(b []byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: sha256Hex(b)}
}

// imageConfig is the OCI image config we write. Fields are fixed so that the same module
// always yields the same manifest digest (no timestamps, no history).
type imageConfig struct {
	Architecture string       `json:"architecture"`
	OS           string       `json:"os"`
	Config       struct{}     `json:"config"`
	RootFS       configRootFS `json:"rootfs"`
}

type configRootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

// runtimeConfig is the artifact's config layer (solo-io/wasm spec.md "Format").
type runtimeConfig struct {
	Type        string   `json:"type"`
	ABIVersions []string `json:"abiVersions"`
	Config      struct{} `json:"config"`
}

// wasmImage is a fully materialised image: every byte is in memory, so remote.Write can
// upload it and its digest is known before any network traffic.
type wasmImage struct {
	manifest []byte
	config   []byte
	blobs    map[v1.Hash][]byte
	types    map[v1.Hash]types.MediaType
}

var _ partial.CompressedImageCore = (*wasmImage)(nil)

func (i *wasmImage) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i *wasmImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (i *wasmImage) RawManifest() ([]byte, error)        { return i.manifest, nil }

func (i *wasmImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	b, ok := i.blobs[h]
	if !ok {
		return nil, fmt.Errorf("oci: no blob %s in image", h)
	}
	return static.NewLayer(b, i.types[h]), nil
}

// buildImage assembles the compat image (default) or the two-layer OCI Wasm artifact.
func buildImage(wasm []byte, artifact bool) (v1.Image, error) {
	img := &wasmImage{blobs: map[v1.Hash][]byte{}, types: map[v1.Hash]types.MediaType{}}
	add := func(b []byte, mt types.MediaType, title string) v1.Descriptor {
		h := sha256Hash(b)
		img.blobs[h] = b
		img.types[h] = mt
		d := v1.Descriptor{MediaType: mt, Size: int64(len(b)), Digest: h}
		if title != "" {
			d.Annotations = map[string]string{annotationTitle: title}
		}
		return d
	}
	cfg := imageConfig{Architecture: "wasm", OS: "wasip1", RootFS: configRootFS{Type: "layers"}}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1}
	if artifact {
		rc, err := json.Marshal(runtimeConfig{Type: "envoy_proxy", ABIVersions: []string{"proxy_abi_version_0_2_1"}})
		if err != nil {
			return nil, err
		}
		// Order as in the spec's example: runtime config first, module last.
		m.Layers = []v1.Descriptor{
			add(rc, MediaTypeWasmConfig, "runtime-config.json"),
			add(wasm, MediaTypeWasmContent, PluginFileName),
		}
		// The layers are not compressed, so each diff_id equals the blob digest.
		for _, l := range m.Layers {
			cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.Digest.String())
		}
	} else {
		tarball, err := compatTar(wasm)
		if err != nil {
			return nil, err
		}
		gz, err := gzipBytes(tarball)
		if err != nil {
			return nil, err
		}
		m.Layers = []v1.Descriptor{add(gz, types.OCILayer, "")}
		m.Annotations = map[string]string{AnnotationVariant: VariantCompat}
		cfg.RootFS.DiffIDs = []string{sha256Hash(tarball).String()}
	}
	cb, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	img.config = cb
	m.Config = v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(cb)), Digest: sha256Hash(cb)}
	img.manifest, err = json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(img)
}

// compatTar is a one-file tar with fixed metadata, so the layer digest depends only on wasm.
func compatTar(wasm []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     PluginFileName,
		Mode:     0o644,
		Size:     int64(len(wasm)),
		ModTime:  time.Unix(0, 0),
		Format:   tar.FormatUSTAR,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(wasm); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// blobFetcher returns a blob's bytes, verified against desc.Digest and bounded by limit.
type blobFetcher func(desc v1.Descriptor, limit int64) ([]byte, error)

// extractWasm picks the module out of a manifest the way Istio's image fetcher does, so
// that anything our gateway accepts, Istio accepts too:
//   - Docker schema 2 manifest: the last layer must be a Docker rootfs tar.gzip holding
//     plugin.wasm;
//   - OCI manifest: the last layer is an OCI tar+gzip holding plugin.wasm (compat), or
//     else the manifest has exactly two layers, one of them the raw module (artifact).
func extractWasm(manifestType types.MediaType, raw []byte, fetch blobFetcher, maxBytes int64) ([]byte, string, error) {
	if len(raw) > maxManifestBytes {
		return nil, "", fmt.Errorf("%w: manifest is %d bytes, limit is %d", ErrTooLarge, len(raw), maxManifestBytes)
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, "", fmt.Errorf("%w: manifest does not parse: %v", ErrUnsupportedFormat, err)
	}
	if m.MediaType != "" && m.MediaType != manifestType {
		return nil, "", fmt.Errorf("%w: manifest body says %q but the registry served it as %q", ErrUnsupportedFormat, m.MediaType, manifestType)
	}
	switch manifestType {
	case types.DockerManifestSchema2:
		if len(m.Layers) == 0 {
			return nil, "", fmt.Errorf("%w: image has no layers", ErrUnsupportedFormat)
		}
		last := m.Layers[len(m.Layers)-1]
		if last.MediaType != types.DockerLayer {
			return nil, "", fmt.Errorf("%w: last layer of a Docker image has media type %q, want %q", ErrUnsupportedFormat, last.MediaType, types.DockerLayer)
		}
		w, err := compatFromLayer(last, fetch, maxBytes)
		return w, FormatCompatDocker, err
	case types.OCIManifestSchema1:
		var compatErr error
		if n := len(m.Layers); n > 0 && m.Layers[n-1].MediaType == types.OCILayer {
			w, err := compatFromLayer(m.Layers[n-1], fetch, maxBytes)
			if err == nil || !errors.Is(err, ErrUnsupportedFormat) {
				return w, FormatCompat, err
			}
			compatErr = err
		} else if n > 0 {
			compatErr = fmt.Errorf("last layer has media type %q, want %q", m.Layers[n-1].MediaType, types.OCILayer)
		} else {
			compatErr = errors.New("image has no layers")
		}
		w, artErr := artifactFromLayers(m.Layers, fetch, maxBytes)
		if artErr == nil || !errors.Is(artErr, ErrUnsupportedFormat) {
			return w, FormatArtifact, artErr
		}
		return nil, "", fmt.Errorf("%w: not a compat image (%v) and not a Wasm artifact (%v)", ErrUnsupportedFormat, unwrapMsg(compatErr), unwrapMsg(artErr))
	default:
		return nil, "", fmt.Errorf("%w: manifest media type %q; want %q or %q (indexes are not supported: reference one manifest by digest)",
			ErrUnsupportedFormat, manifestType, types.OCIManifestSchema1, types.DockerManifestSchema2)
	}
}

// unwrapMsg drops the sentinel's prefix so combined messages stay readable.
func unwrapMsg(err error) string {
	s := err.Error()
	p := ErrUnsupportedFormat.Error() + ": "
	if len(s) > len(p) && s[:len(p)] == p {
		return s[len(p):]
	}
	return s
}

func compatFromLayer(layer v1.Descriptor, fetch blobFetcher, maxBytes int64) ([]byte, error) {
	gz, err := fetch(layer, maxBytes+tarOverhead)
	if err != nil {
		return nil, err
	}
	return wasmFromTarGz(gz, maxBytes)
}

func artifactFromLayers(layers []v1.Descriptor, fetch blobFetcher, maxBytes int64) ([]byte, error) {
	if len(layers) != 2 {
		return nil, fmt.Errorf("%w: artifact must have 2 layers, has %d", ErrUnsupportedFormat, len(layers))
	}
	for _, l := range layers {
		if l.MediaType == MediaTypeWasmContent {
			return fetch(l, maxBytes)
		}
	}
	return nil, fmt.Errorf("%w: no layer of type %q", ErrUnsupportedFormat, MediaTypeWasmContent)
}

// wasmFromTarGz returns the first regular file whose base name is plugin.wasm. It bounds
// both the entry and the whole decompressed stream, so a gzip bomb costs nothing.
func wasmFromTarGz(gz []byte, maxBytes int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("%w: layer is not gzip: %v", ErrUnsupportedFormat, err)
	}
	defer zr.Close()
	budget := &limitedReader{r: zr, n: maxBytes + tarOverhead}
	tr := tar.NewReader(budget)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: layer has no %s", ErrUnsupportedFormat, PluginFileName)
		}
		if err != nil {
			if budget.exceeded {
				return nil, fmt.Errorf("%w: layer decompresses to more than %d bytes", ErrTooLarge, maxBytes+tarOverhead)
			}
			return nil, fmt.Errorf("%w: layer is not a valid tar.gz: %v", ErrUnsupportedFormat, err)
		}
		if path.Base(h.Name) != PluginFileName || h.Typeflag != tar.TypeReg {
			continue
		}
		if h.Size > maxBytes {
			return nil, fmt.Errorf("%w: %s is %d bytes, limit is %d", ErrTooLarge, PluginFileName, h.Size, maxBytes)
		}
		b := make([]byte, h.Size)
		if _, err := io.ReadFull(tr, b); err != nil {
			if budget.exceeded {
				return nil, fmt.Errorf("%w: layer decompresses to more than %d bytes", ErrTooLarge, maxBytes+tarOverhead)
			}
			return nil, fmt.Errorf("%w: reading %s: %v", ErrUnsupportedFormat, PluginFileName, err)
		}
		return b, nil
	}
}

// limitedReader is io.LimitedReader that remembers whether the limit was hit, so a
// truncated stream is reported as too large rather than as corrupt.
type limitedReader struct {
	r        io.Reader
	n        int64
	exceeded bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		// At the limit: a stream that ends exactly here is fine; one more byte is not.
		var one [1]byte
		k, err := l.r.Read(one[:])
		if k == 0 {
			return 0, err
		}
		l.exceeded = true
		return 0, errors.New("size limit reached")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
