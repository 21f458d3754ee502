package oci

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// cache is a content-addressed store on disk:
//
//	wasm/<sha256 of module>.wasm   the module; its name is checked against its content on read
//	manifests/<manifest hex>       text: "<sha256 of the module> <format>" that manifest yields
//	tags/<sha256 of ref name>      text: "sha256:<manifest hex>" the tag resolved to last
//
// Every write goes to a temporary file renamed into place, so concurrent pulls (several
// gateway processes sharing a cache) never see half a file. A file that fails its check is
// ignored and overwritten by the next pull.
type cache struct{ dir string }

func openCache(dir string) (*cache, error) {
	for _, sub := range []string{"wasm", "manifests", "tags"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("oci: cache dir %q: %w", dir, err)
		}
	}
	return &cache{dir: dir}, nil
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func tagKey(refName string) string {
	s := sha256.Sum256([]byte(refName))
	return hex.EncodeToString(s[:])
}

// tag returns the manifest hex a tag resolved to when last pulled.
func (c *cache) tag(refName string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(c.dir, "tags", tagKey(refName)))
	if err != nil {
		return "", false
	}
	h, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "sha256:")
	return h, ok && isHex64(h)
}

// cached is a module found in the cache.
type cached struct {
	wasm            []byte
	wasmHex, format string
}

// manifest returns the module a manifest yields, verified against its content address.
func (c *cache) manifest(manifestHex string, maxBytes int64) (cached, bool) {
	if !isHex64(manifestHex) {
		return cached{}, false
	}
	b, err := os.ReadFile(filepath.Join(c.dir, "manifests", manifestHex))
	if err != nil {
		return cached{}, false
	}
	wasmHex, format, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	if !isHex64(wasmHex) {
		return cached{}, false
	}
	switch format {
	case FormatCompat, FormatCompatDocker, FormatArtifact:
	default:
		return cached{}, false
	}
	p := filepath.Join(c.dir, "wasm", wasmHex+".wasm")
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() || st.Size() > maxBytes {
		return cached{}, false
	}
	w, err := os.ReadFile(p)
	if err != nil || sha256Hex(w) != wasmHex || checkWasm(w, maxBytes) != nil {
		return cached{}, false
	}
	return cached{wasm: w, wasmHex: wasmHex, format: format}, true
}

// store records a pulled module; refName is "" for pulls by digest.
func (c *cache) store(manifestHex, refName string, m cached) error {
	if err := writeAtomic(filepath.Join(c.dir, "wasm", m.wasmHex+".wasm"), m.wasm, 0o644); err != nil {
		return err
	}
	if err := writeAtomic(filepath.Join(c.dir, "manifests", manifestHex), []byte(m.wasmHex+" "+m.format+"\n"), 0o644); err != nil {
		return err
	}
	return c.storeTag(refName, manifestHex)
}

// storeTag remembers what a tag resolved to; refName is "" for pulls by digest.
func (c *cache) storeTag(refName, manifestHex string) error {
	if refName == "" {
		return nil
	}
	return writeAtomic(filepath.Join(c.dir, "tags", tagKey(refName)), []byte("sha256:"+manifestHex+"\n"), 0o644)
}

func writeAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("oci: cache write: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("oci: cache write: %w", err)
	}
	if err = f.Chmod(perm); err != nil {
		_ = f.Close()
		return fmt.Errorf("oci: cache write: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("oci: cache write: %w", err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("oci: cache write: %w", err)
	}
	return nil
}
