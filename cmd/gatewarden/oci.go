package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gatewarden/gatewarden/oci"
	"github.com/google/go-containerregistry/pkg/name"
)

const ociUsage = `usage:
  gatewarden oci push [--artifact] [--insecure] FILE.wasm REGISTRY/REPO:TAG
  gatewarden oci pull [--insecure] [--sha256 HEX] [--cache DIR] [--pull-policy IfNotPresent|Always] REF -o FILE

push uploads FILE.wasm in a format Istio's WasmPlugin pulls: by default the compat image
(one tar+gzip layer holding plugin.wasm), with --artifact the two-layer OCI Wasm artifact.
It prints the manifest digest, the module's sha256 and the digest-pinned oci:// url.
(Istio's WasmPlugin.sha256 for an oci:// url is the manifest digest without "sha256:".)

pull fetches REF (REGISTRY/REPO:TAG or REGISTRY/REPO@sha256:DIGEST, "oci://" optional) in
either format (Docker compat images too), verifies every digest and the --sha256 pin
(the module's sha256 or the manifest digest), and writes the module to FILE ("-" for
stdout). A refused module is never written.

Plain HTTP is used only for loopback registries (127.0.0.1, ::1, localhost) unless
--insecure. Credentials come from the docker config file ($DOCKER_CONFIG/config.json or
~/.docker/config.json, as written by docker login).
`

// errOCIUsage marks command-line mistakes; the message says what was wrong.
var errOCIUsage = errors.New("usage")

// runOCI implements `gatewarden oci push|pull ...`; args exclude "oci" itself.
func runOCI(ctx context.Context, args []string) error {
	return ociMain(ctx, args, os.Stdout, os.Stderr)
}

func ociMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, ociUsage)
		return fmt.Errorf("oci: %w: want a subcommand, push or pull", errOCIUsage)
	}
	switch args[0] {
	case "push":
		return ociPush(ctx, args[1:], stdout, stderr)
	case "pull":
		return ociPull(ctx, args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, ociUsage)
		return nil
	}
	fmt.Fprint(stderr, ociUsage)
	return fmt.Errorf("oci: %w: unknown subcommand %q, want push or pull", errOCIUsage, args[0])
}

// ociParse parses flags anywhere among the arguments (`pull REF -o FILE` reads naturally),
// returning the positional ones. A lone "--" ends flag parsing.
func ociParse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func ociFlagSet(cmd string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gatewarden oci "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, ociUsage)
		fmt.Fprintf(stderr, "\nflags of %s:\n", cmd)
		fs.PrintDefaults()
	}
	return fs
}

func ociPush(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := ociFlagSet("push", stderr)
	artifact := fs.Bool("artifact", false, "push the two-layer OCI Wasm artifact instead of the compat image")
	insecure := fs.Bool("insecure", false, "allow plain HTTP or unverified TLS to a registry that is not on loopback")
	pos, err := ociParse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("oci push: %w: %v", errOCIUsage, err)
	}
	if len(pos) != 2 {
		fs.Usage()
		return fmt.Errorf("oci push: %w: want FILE.wasm REGISTRY/REPO:TAG, got %d arguments", errOCIUsage, len(pos))
	}
	file, ref := pos[0], pos[1]
	wasm, err := ociReadModule(file)
	if err != nil {
		return fmt.Errorf("oci push: %w", err)
	}
	digest, err := oci.Push(ctx, wasm, ref, oci.PushOptions{Artifact: *artifact, Insecure: *insecure})
	if err != nil {
		return fmt.Errorf("oci push %s: %w", file, err)
	}
	kind := "compat image"
	if *artifact {
		kind = "OCI Wasm artifact"
	}
	repo := strings.TrimPrefix(ref, "oci://")
	if t, err := name.NewTag(repo); err == nil {
		repo = t.Context().Name()
	}
	sum := sha256.Sum256(wasm)
	fmt.Fprintf(stdout, "pushed %s (%s, %d bytes)\ndigest: %s\nsha256: %s\nurl: oci://%s@%s\n",
		strings.TrimPrefix(ref, "oci://"), kind, len(wasm), digest, hex.EncodeToString(sum[:]), repo, digest)
	return nil
}

func ociReadModule(file string) ([]byte, error) {
	st, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", file)
	}
	if st.Size() > oci.DefaultMaxBytes {
		return nil, fmt.Errorf("%s is %d bytes, over the %d byte limit for a module", file, st.Size(), oci.DefaultMaxBytes)
	}
	return os.ReadFile(file)
}

func ociPull(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := ociFlagSet("pull", stderr)
	insecure := fs.Bool("insecure", false, "allow plain HTTP or unverified TLS to a registry that is not on loopback")
	pin := fs.String("sha256", "", "refuse the module unless this hex value is its sha256 (or the manifest digest)")
	out := fs.String("o", "", "write the module to this file (\"-\" for stdout); required")
	cacheDir := fs.String("cache", "", "keep pulled modules in this directory, keyed by digest")
	policy := fs.String("pull-policy", "", "IfNotPresent or Always (default IfNotPresent, Always for :latest); needs --cache to matter")
	pos, err := ociParse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("oci pull: %w: %v", errOCIUsage, err)
	}
	if len(pos) != 1 || *out == "" {
		fs.Usage()
		return fmt.Errorf("oci pull: %w: want REF -o FILE", errOCIUsage)
	}
	ref := pos[0]
	m, err := oci.PullModule(ctx, ref, oci.PullOptions{
		CacheDir: *cacheDir, Policy: *policy, SHA256: *pin, Insecure: *insecure,
	})
	if err != nil {
		return fmt.Errorf("oci pull: %w", err)
	}
	info := stdout
	if *out == "-" {
		info = stderr
		if _, err := stdout.Write(m.Wasm); err != nil {
			return fmt.Errorf("oci pull: writing stdout: %w", err)
		}
	} else if err := ociWriteFile(*out, m.Wasm); err != nil {
		return fmt.Errorf("oci pull: %w", err)
	}
	cached := ""
	if m.Cached {
		cached = ", from cache"
	}
	fmt.Fprintf(info, "pulled %s (%s%s) -> %s (%d bytes)\ndigest: %s\nsha256: %s\n",
		strings.TrimPrefix(ref, "oci://"), m.Format, cached, *out, len(m.Wasm), m.Digest, m.SHA256)
	return nil
}

// ociWriteFile writes through a temporary file and a rename, so FILE is either the old
// content or the whole verified module, never a partial one.
func ociWriteFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
