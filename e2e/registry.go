package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// InstallRegistry runs e2e/peers/install-registry.sh (idempotent; apt-get install
// docker-registry) and returns the docker-registry binary. DOCKER_REGISTRY_BIN, when set,
// skips the install.
func InstallRegistry(ctx context.Context, root string) (string, error) {
	if p := os.Getenv("DOCKER_REGISTRY_BIN"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("docker-registry"); err == nil {
		return p, nil
	}
	lines, err := runScript(ctx, root, "install-registry.sh")
	if err != nil {
		return "", err
	}
	if len(lines) == 0 {
		return "", fmt.Errorf("%w: install-registry.sh printed no path", ErrPeerUnavailable)
	}
	return lines[len(lines)-1], nil
}

// RegistryOptions configure StartRegistry.
type RegistryOptions struct {
	Bin     string // docker-registry binary
	Dir     string // holds config.yml, the storage root and (by default) the log
	LogPath string // default Dir/registry.log
	// HTPasswd, when set, is an htpasswd file's content (bcrypt entries, as distribution
	// requires); the registry then demands basic auth.
	HTPasswd string
}

// RegistryServer is a running docker-registry (CNCF distribution) on 127.0.0.1.
type RegistryServer struct {
	Host    string // "127.0.0.1:PORT": the registry part of image references
	Root    string // filesystem storage root, for tests that tamper with stored blobs
	Proc    *Process
	Startup time.Duration
}

// RenderRegistryConfig is the registry config we run with: loopback listener, filesystem
// storage under root, access log on, nothing from the packaged default (which listens on
// all interfaces).
func RenderRegistryConfig(addr, root, htpasswdPath, secret string) []byte {
	var auth string
	if htpasswdPath != "" {
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: gatewarden-e2e\n    path: %s\n", htpasswdPath)
	}
	return fmt.Appendf(nil, `version: 0.1
log:
  level: info
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
  secret: %s
  headers:
    X-Content-Type-Options: [nosniff]
%s`, root, addr, secret, auth)
}

// StartRegistry starts docker-registry on a free loopback port and waits until /v2/
// answers. It retries on another port if the chosen one was taken in the meantime.
func StartRegistry(ctx context.Context, o RegistryOptions) (*RegistryServer, error) {
	if o.LogPath == "" {
		o.LogPath = filepath.Join(o.Dir, "registry.log")
	}
	var last error
	for range 3 {
		r, err := startRegistry(ctx, o)
		if err == nil || ctx.Err() != nil {
			return r, err
		}
		last = err
	}
	return nil, last
}

func startRegistry(ctx context.Context, o RegistryOptions) (*RegistryServer, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	if _, err := rand.Read(secret); err != nil {
		return nil, err
	}
	r := &RegistryServer{Host: fmt.Sprintf("127.0.0.1:%d", port), Root: filepath.Join(o.Dir, "storage")}
	var hp string
	if o.HTPasswd != "" {
		hp = filepath.Join(o.Dir, "htpasswd")
		if err := os.WriteFile(hp, []byte(o.HTPasswd), 0o600); err != nil {
			return nil, err
		}
	}
	conf := filepath.Join(o.Dir, "config.yml")
	if err := os.WriteFile(conf, RenderRegistryConfig(r.Host, r.Root, hp, hex.EncodeToString(secret)), 0o600); err != nil {
		return nil, err
	}
	t0 := time.Now()
	p, err := StartProcess("docker-registry", o.LogPath, exec.Command(o.Bin, "serve", conf))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPeerUnavailable, err)
	}
	r.Proc = p
	if err := waitRegistry(ctx, "http://"+r.Host+"/v2/", p); err != nil {
		p.Stop(5 * time.Second)
		return nil, fmt.Errorf("%w: %v\n%s", ErrPeerUnavailable, err, p.Tail(20))
	}
	r.Startup = time.Since(t0)
	return r, nil
}

// waitRegistry polls /v2/ until it answers 200, or 401 when auth is on.
func waitRegistry(ctx context.Context, url string, p *Process) error {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return nil
			}
		}
		if p.Exited() {
			return fmt.Errorf("docker-registry exited before %s was ready: %v", url, p.Err())
		}
		select {
		case <-ctx.Done():
			return errors.New("docker-registry did not answer on " + url + " in time")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop ends the registry process.
func (r *RegistryServer) Stop() { r.Proc.Stop(5 * time.Second) }

// BlobPath is where the filesystem driver keeps the blob (layer, config or manifest) with
// this digest ("sha256:<hex>"), for tests that tamper with storage.
func (r *RegistryServer) BlobPath(digest string) string {
	h := strings.TrimPrefix(digest, "sha256:")
	if len(h) < 2 {
		return ""
	}
	return filepath.Join(r.Root, "docker", "registry", "v2", "blobs", "sha256", h[:2], h, "data")
}
