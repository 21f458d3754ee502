package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatewarden/gatewarden/host"
	"github.com/gatewarden/gatewarden/oci"
)

// OCIScheme prefixes plugin paths that name a module in an OCI registry.
const OCIScheme = "oci://"

// MaxWasmBytes bounds a plugin module read from a file.
const MaxWasmBytes = 64 << 20

// ErrPluginSource is wrapped when a plugin's module cannot be read or fails its pin.
var ErrPluginSource = errors.New("gateway: plugin module")

// PullFunc fetches the module of an OCI reference (without the oci:// prefix).
type PullFunc func(ctx context.Context, ref string, opts oci.PullOptions) ([]byte, error)

// loadPlugin reads the module and starts the plugin's VMs on the host runtime.
func (g *Gateway) loadPlugin(ctx context.Context, cfg *Config, pc Plugin) (*loadedPlugin, error) {
	wasm, source, err := g.readModule(ctx, cfg, pc)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(wasm)
	hexSum := hex.EncodeToString(sum[:])
	if pc.SHA256 != "" && pc.SHA256 != hexSum {
		return nil, fmt.Errorf("%w %s: sha256 is %s but the config pins %q; rebuild the module or update sha256", ErrPluginSource, source, hexSum, pc.SHA256)
	}
	upstreams := map[string]string{}
	for _, name := range pc.Upstreams {
		for _, u := range cfg.Upstreams {
			if u.Name == name {
				upstreams[name] = strings.TrimSuffix(u.URLs[0], "/")
			}
		}
	}
	var limits host.Limits
	if pc.MaxCallbackTime != nil {
		limits.MaxCallbackTime = time.Duration(*pc.MaxCallbackTime)
		if limits.MaxCallbackTime == 0 {
			limits.MaxCallbackTime = -1 // the host's "off"
		}
	}
	p, err := g.rt.LoadPlugin(ctx, host.PluginConfig{
		Limits:          limits,
		Name:            pc.Name,
		RootID:          pc.RootID,
		VMID:            pc.VMID,
		Wasm:            wasm,
		Configuration:   pc.Configuration.Bytes,
		VMConfiguration: pc.VMConfiguration.Bytes,
		VMs:             pc.VMs,
		FailOpen:        pc.FailOpen,
		Upstreams:       upstreams,
		Logger:          g.log,
	})
	if err != nil {
		return nil, err
	}
	g.log.Info("gateway: plugin loaded", "plugin", pc.Name, "source", source, "sha256", hexSum, "bytes", len(wasm))
	return &loadedPlugin{cfg: pc, source: source, sha256: hexSum, size: len(wasm), plugin: p}, nil
}

func (g *Gateway) readModule(ctx context.Context, cfg *Config, pc Plugin) ([]byte, string, error) {
	if ref, ok := strings.CutPrefix(pc.Path, OCIScheme); ok {
		pull := g.opts.PullOCI
		if pull == nil {
			pull = oci.Pull
		}
		opts := oci.PullOptions{SHA256: pc.SHA256, Policy: pc.PullPolicy}
		if cfg.CacheDir != "" {
			opts.CacheDir = filepath.Join(cfg.CacheDir, "oci")
		}
		wasm, err := pull(ctx, ref, opts)
		if err != nil {
			return nil, pc.Path, fmt.Errorf("%w: pull %q: %w", ErrPluginSource, pc.Path, err)
		}
		return wasm, pc.Path, nil
	}
	path := resolvePath(cfg.BaseDir, pc.Path)
	f, err := os.Open(path)
	if err != nil {
		hint := ""
		if errors.Is(err, os.ErrNotExist) && strings.HasSuffix(path, "gatewarden.wasm") {
			hint = " (build it with `make wasm`)"
		}
		return nil, path, fmt.Errorf("%w: %w%s", ErrPluginSource, err, hint)
	}
	defer f.Close()
	wasm, err := readLimited(f, MaxWasmBytes)
	if err != nil {
		return nil, path, fmt.Errorf("%w %s: %w", ErrPluginSource, path, err)
	}
	return wasm, path, nil
}
