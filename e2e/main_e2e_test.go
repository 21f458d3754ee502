//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// suite holds the peers shared by every test of the run. Each is started on first use (so
// `-run TestX` starts only what TestX needs) and stopped by TestMain at the end.
var suite struct {
	root string // repo root
	out  string // build/e2e: logs, rendered configs, built binaries

	kcOnce sync.Once
	kc     *KeycloakServer
	kcErr  error

	envoyOnce sync.Once
	envoyBin  string
	envoyErr  error

	wasmOnce sync.Once
	wasm     string
	wasmErr  error

	gwOnce sync.Once
	gwBin  string
	gwErr  error

	mu       sync.Mutex
	cleanups []func()
}

func TestMain(m *testing.M) {
	root, err := RepoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	suite.root = root
	suite.out = filepath.Join(root, "build", "e2e")
	if err := os.MkdirAll(suite.out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if r := ReapLeftovers(suite.out); len(r) > 0 {
		fmt.Fprintf(os.Stderr, "e2e: stopped peers left running by an earlier run: %v\n", r)
	}
	code := m.Run()
	suite.mu.Lock()
	cs := suite.cleanups
	suite.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i]()
	}
	os.Exit(code)
}

// atExit registers f to run after all tests (peers shared across tests).
func atExit(f func()) {
	suite.mu.Lock()
	defer suite.mu.Unlock()
	suite.cleanups = append(suite.cleanups, f)
}

// unavailable skips the test locally and fails it under CI=true, saying how to get the peer.
func unavailable(t testing.TB, what string, err error, howto string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s unavailable in CI (CI=true): %v", what, err)
	}
	t.Skipf("%s unavailable, skipping (in CI this fails): %v\nTo install: %s", what, err, howto)
}

// needKeycloak returns the shared Keycloak, installing and starting it on first use.
func needKeycloak(t testing.TB) *KeycloakServer {
	t.Helper()
	suite.kcOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		if u := os.Getenv("E2E_KEYCLOAK_URL"); u != "" {
			// A Keycloak the developer runs already (e2e/peers/run-keycloak.sh), to iterate
			// without its start-up time. It must have the test realm and admin/admin.
			suite.kc = &KeycloakServer{BaseURL: strings.TrimSuffix(u, "/")}
			return
		}
		t0 := time.Now()
		in, err := InstallKeycloak(ctx, suite.root)
		if err != nil {
			suite.kcErr = err
			return
		}
		install := time.Since(t0)
		kc, err := StartKeycloak(ctx, KeycloakOptions{
			Timeout:   6 * time.Minute, // about 40 s on an idle 2-core machine; far more when it is busy
			Install:   in,
			RealmFile: filepath.Join(suite.root, "testdata", "keycloak", "realm-gatewarden.json"),
			LogPath:   filepath.Join(suite.out, "keycloak.log"),
		})
		if err != nil {
			suite.kcErr = err
			return
		}
		suite.kc = kc
		fmt.Fprintf(os.Stderr, "e2e: keycloak %s ready in %s (install/check %s), log %s\n",
			kc.BaseURL, kc.Startup.Round(time.Millisecond), install.Round(time.Millisecond), kc.Proc.LogPath)
		atExit(kc.Stop)
	})
	if suite.kcErr != nil {
		unavailable(t, "Keycloak", suite.kcErr, "e2e/peers/install-keycloak.sh (needs mvn and a Java 21+ JDK in /usr/lib/jvm)")
	}
	return suite.kc
}

// needEnvoy returns the envoy binary, installing it on first use.
func needEnvoy(t testing.TB) string {
	t.Helper()
	suite.envoyOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		suite.envoyBin, suite.envoyErr = InstallEnvoy(ctx, suite.root)
	})
	if suite.envoyErr != nil {
		unavailable(t, "Envoy", suite.envoyErr, "e2e/peers/install-envoy.sh (needs python3 with venv and pip)")
	}
	return suite.envoyBin
}

// needFilter returns the path of the Gatewarden filter: $GATEWARDEN_WASM, or a fresh build of
// ./filter into build/e2e/gatewarden.wasm (so the tests always run the current source).
func needFilter(t testing.TB) string {
	t.Helper()
	suite.wasmOnce.Do(func() {
		if p := os.Getenv("GATEWARDEN_WASM"); p != "" {
			suite.wasm, suite.wasmErr = filepath.Abs(p)
			return
		}
		out := filepath.Join(suite.out, "gatewarden.wasm")
		cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-o", out, "./filter")
		cmd.Dir = suite.root
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			suite.wasmErr = fmt.Errorf("%w: building ./filter for wasip1: %v\n%s", ErrPeerUnavailable, err, b)
			return
		}
		suite.wasm = out
	})
	if suite.wasmErr != nil {
		unavailable(t, "the filter (.wasm)", suite.wasmErr, "make wasm")
	}
	return suite.wasm
}

// buildGateway builds cmd/gatewarden into build/e2e/gatewarden once.
func buildGateway() (string, error) {
	suite.gwOnce.Do(func() {
		out := filepath.Join(suite.out, "gatewarden")
		cmd := exec.Command("go", "build", "-o", out, "./cmd/gatewarden")
		cmd.Dir = suite.root
		if b, err := cmd.CombinedOutput(); err != nil {
			suite.gwErr = fmt.Errorf("%w: building ./cmd/gatewarden: %v\n%s", ErrPeerUnavailable, err, b)
			return
		}
		suite.gwBin = out
	})
	return suite.gwBin, suite.gwErr
}

// needGatewayBinary returns the built gatewarden CLI, skipping (locally) or failing (CI) when
// it does not build.
func needGatewayBinary(t testing.TB) string {
	t.Helper()
	bin, err := buildGateway()
	if err != nil {
		unavailable(t, "our gateway (gatewarden)", err, "go build ./cmd/gatewarden")
	}
	return bin
}

// oidc returns an OIDC client of the shared Keycloak's test realm.
func oidc(t testing.TB) *OIDC {
	kc := needKeycloak(t)
	return &OIDC{BaseURL: kc.BaseURL, Realm: RealmName}
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
