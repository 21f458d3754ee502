package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// Realm, clients and users of testdata/keycloak/realm-gatewarden.json. The passwords and the
// client secret are test fixtures for a loopback-only Keycloak, not secrets.
const (
	RealmName           = "gatewarden"
	DemoAppClientID     = "demo-app"       // public: auth code + PKCE S256, direct grants; 10 s access tokens
	ServiceClientID     = "service-client" // confidential, service account (client credentials)
	ServiceClientSecret = "service-client-secret"
	APIClientID         = "gatewarden-api" // the audience; owns client roles reader, writer
	DemoAppAccessTTL    = 10 * time.Second // demo-app's access.token.lifespan attribute
	AdminUser           = "admin"
	AdminPassword       = "admin"
)

// User is a realm user of the test realm.
type User struct{ Name, Password string }

// Users of the test realm: alice has realm role api-user and client role gatewarden-api:reader;
// bob has only the default roles; carol has api-user, api-admin, reader and writer.
var (
	Alice = User{"alice", "alice-password"}
	Bob   = User{"bob", "bob-password"}
	Carol = User{"carol", "carol-password"}
)

// KeycloakOptions configure StartKeycloak.
type KeycloakOptions struct {
	Install   KeycloakInstall
	RealmFile string // realm export to import (testdata/keycloak/realm-gatewarden.json)
	LogPath   string
	Port      int // HTTP port on 127.0.0.1; 0 = free port
	MgmtPort  int // management port (health); 0 = free port
	Timeout   time.Duration
}

// KeycloakServer is a running Keycloak in dev mode with an in-memory database, so each start
// imports the realm afresh (new signing keys every run).
type KeycloakServer struct {
	BaseURL  string // http://127.0.0.1:PORT, also the fixed --hostname (so iss is stable)
	Port     int
	MgmtPort int
	Proc     *Process
	Startup  time.Duration
}

// StartKeycloak copies the realm file into Keycloak's import folder and starts
// `kc.sh start-dev --import-realm` on loopback, waiting for /health/ready on the management port.
func StartKeycloak(ctx context.Context, o KeycloakOptions) (*KeycloakServer, error) {
	if o.Port == 0 || o.MgmtPort == 0 {
		ports, err := FreePorts(2)
		if err != nil {
			return nil, err
		}
		o.Port, o.MgmtPort = ports[0], ports[1]
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	realm, err := os.ReadFile(o.RealmFile)
	if err != nil {
		return nil, fmt.Errorf("read realm export: %w", err)
	}
	importDir := filepath.Join(o.Install.Home, "data", "import")
	if err := os.MkdirAll(importDir, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(importDir, filepath.Base(o.RealmFile)), realm, 0o644); err != nil {
		return nil, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(o.Port)
	cmd := exec.Command(filepath.Join(o.Install.Home, "bin", "kc.sh"), "start-dev",
		"--db=dev-mem",
		"--http-host=127.0.0.1", "--http-port="+strconv.Itoa(o.Port),
		"--http-management-port="+strconv.Itoa(o.MgmtPort),
		"--hostname="+base,
		"--health-enabled=true",
		"--import-realm",
	)
	cmd.Dir = o.Install.Home
	cmd.Env = append(os.Environ(),
		"JAVA_HOME="+o.Install.JavaHome,
		"PATH="+filepath.Join(o.Install.JavaHome, "bin")+":"+os.Getenv("PATH"),
		"KC_BOOTSTRAP_ADMIN_USERNAME="+AdminUser,
		"KC_BOOTSTRAP_ADMIN_PASSWORD="+AdminPassword,
		// kc.sh sizes the heap from the machine's RAM by default; a fixed 1 GiB cap keeps
		// the tests' footprint predictable next to Envoy and the Go build.
		"JAVA_OPTS_KC_HEAP=-Xms256m -Xmx1g",
	)
	p, err := StartProcess("keycloak", o.LogPath, cmd)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPeerUnavailable, err)
	}
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	ready := fmt.Sprintf("http://127.0.0.1:%d/health/ready", o.MgmtPort)
	if err := WaitHTTP(wctx, ready, p); err != nil {
		p.Stop(5 * time.Second)
		return nil, fmt.Errorf("%w: keycloak not ready: %v\n%s", ErrPeerUnavailable, err, p.Tail(30))
	}
	return &KeycloakServer{BaseURL: base, Port: o.Port, MgmtPort: o.MgmtPort, Proc: p, Startup: time.Since(p.Started)}, nil
}

// Issuer is the realm's issuer URL (the iss claim).
func (k *KeycloakServer) Issuer() string { return k.BaseURL + "/realms/" + RealmName }

// Stop ends Keycloak (a no-op for one the tests did not start).
func (k *KeycloakServer) Stop() {
	if k.Proc != nil {
		k.Proc.Stop(20 * time.Second)
	}
}
