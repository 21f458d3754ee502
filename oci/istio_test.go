package oci

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// istioFetch re-states, through go-containerregistry's v1.Image API (a code path
// independent of extractWasm), the decision Istio's pkg/wasm/imagefetcher.go makes:
// Docker schema 2 manifest -> last layer must be a Docker tar.gzip with plugin.wasm;
// otherwise compat (last layer OCI tar+gzip with plugin.wasm), else the artifact with
// exactly two layers, reading the content layer's raw bytes via Compressed().
func istioFetch(ref string) ([]byte, error) {
	desc, err := remote.Get(mustParse(ref))
	if err != nil {
		return nil, err
	}
	img, err := desc.Image()
	if err != nil {
		return nil, err
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	fromTar := func(want types.MediaType) ([]byte, error) {
		if len(layers) == 0 {
			return nil, errors.New("no layers")
		}
		l := layers[len(layers)-1]
		if mt, _ := l.MediaType(); mt != want {
			return nil, fmt.Errorf("last layer %s", mt)
		}
		rc, err := l.Compressed()
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		zr, err := gzip.NewReader(rc)
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if err != nil {
				return nil, err
			}
			if path.Base(h.Name) == "plugin.wasm" {
				return io.ReadAll(tr)
			}
		}
	}
	if m.MediaType == types.DockerManifestSchema2 {
		return fromTar(types.DockerLayer)
	}
	if b, err := fromTar(types.OCILayer); err == nil {
		return b, nil
	}
	if len(layers) != 2 {
		return nil, fmt.Errorf("%d layers", len(layers))
	}
	for _, l := range layers {
		if mt, _ := l.MediaType(); mt == "application/vnd.module.wasm.content.layer.v1+wasm" {
			rc, err := l.Compressed()
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			return io.ReadAll(rc)
		}
	}
	return nil, errors.New("no content layer")
}

func TestIstioReadsWhatWePush(t *testing.T) {
	reg := newTestRegistry(t)
	wasm := dummyWasm("istio")
	for _, artifact := range []bool{false, true} {
		ref := fmt.Sprintf("%s/istio/a%v:v1", reg.Host, artifact)
		mustPush(t, wasm, ref, PushOptions{Artifact: artifact})
		got, err := istioFetch(ref)
		if err != nil || string(got) != string(wasm) {
			t.Fatalf("artifact=%v: Istio-style fetch = %d bytes, %v", artifact, len(got), err)
		}
		if _, err := Pull(context.Background(), ref, PullOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}
