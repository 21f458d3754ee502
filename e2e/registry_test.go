package e2e

import (
	"strings"
	"testing"
)

// Offline checks of the registry helper; the registry itself runs in registry_e2e_test.go.

func TestRenderRegistryConfig(t *testing.T) {
	c := string(RenderRegistryConfig("127.0.0.1:5123", "/tmp/r/storage", "", "s3"))
	for _, want := range []string{"addr: 127.0.0.1:5123", "rootdirectory: /tmp/r/storage", "version: 0.1", "secret: s3"} {
		if !strings.Contains(c, want) {
			t.Errorf("config lacks %q:\n%s", want, c)
		}
	}
	if strings.Contains(c, "auth:") || strings.Contains(c, ":5000") {
		t.Errorf("anonymous loopback config has auth or the packaged port:\n%s", c)
	}
	if c := string(RenderRegistryConfig("127.0.0.1:1", "/r", "/r/htpasswd", "s")); !strings.Contains(c, "htpasswd:\n    realm: gatewarden-e2e\n    path: /r/htpasswd") {
		t.Errorf("htpasswd config:\n%s", c)
	}
}

func TestRegistryBlobPath(t *testing.T) {
	r := &RegistryServer{Root: "/s"}
	got := r.BlobPath("sha256:abcdef")
	if got != "/s/docker/registry/v2/blobs/sha256/ab/abcdef/data" {
		t.Errorf("BlobPath = %s", got)
	}
	if r.BlobPath("x") != "" {
		t.Error("BlobPath of a short digest")
	}
}
