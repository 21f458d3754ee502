package devissuer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"

	"github.com/gatewarden/gatewarden/jwt"
)

// Key file names inside Config.KeyDir.
const (
	RSAKeyFile = "rsa.pem" // PKCS#8 (or PKCS#1) RSA private key, 2048 bits or more
	ECKeyFile  = "ec.pem"  // PKCS#8 (or SEC 1) ECDSA P-256 private key
)

// keyPair is the issuer's fixed pair of signing keys: RS256 and ES256.
type keyPair struct {
	rsa jwt.SigningKey
	ec  jwt.SigningKey
}

// loadOrGenerateKeys reads the keys from dir, generating (and, when dir is set,
// saving) the ones that are missing. An empty dir means fresh in-memory keys.
func loadOrGenerateKeys(dir string) (keyPair, error) {
	rk, err := loadOrGenerate(dir, RSAKeyFile, func() (crypto.Signer, error) {
		return rsa.GenerateKey(rand.Reader, 2048)
	})
	if err != nil {
		return keyPair{}, err
	}
	ek, err := loadOrGenerate(dir, ECKeyFile, func() (crypto.Signer, error) {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	})
	if err != nil {
		return keyPair{}, err
	}
	return newKeyPair(rk, ek)
}

func newKeyPair(rk, ek crypto.Signer) (keyPair, error) {
	r, ok := rk.(*rsa.PrivateKey)
	if !ok || r.N.BitLen() < 2048 {
		return keyPair{}, fmt.Errorf("devissuer: %s must hold an RSA private key of at least 2048 bits", RSAKeyFile)
	}
	e, ok := ek.(*ecdsa.PrivateKey)
	if !ok || e.Curve != elliptic.P256() {
		return keyPair{}, fmt.Errorf("devissuer: %s must hold an ECDSA P-256 private key", ECKeyFile)
	}
	return keyPair{
		rsa: jwt.SigningKey{Alg: "RS256", KeyID: thumbprintRSA(&r.PublicKey), Key: r},
		ec:  jwt.SigningKey{Alg: "ES256", KeyID: thumbprintEC(&e.PublicKey), Key: e},
	}, nil
}

func loadOrGenerate(dir, name string, gen func() (crypto.Signer, error)) (crypto.Signer, error) {
	if dir != "" {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			k, err := parsePrivateKeyPEM(data)
			if err != nil {
				return nil, fmt.Errorf("devissuer: key file %q: %w; delete it to get a fresh key", path, err)
			}
			return k, nil
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("devissuer: %w", err)
		}
	}
	k, err := gen()
	if err != nil {
		return nil, fmt.Errorf("devissuer: generate key: %w", err)
	}
	if dir != "" {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("devissuer: encode key: %w", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("devissuer: %w", err)
		}
		data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return nil, fmt.Errorf("devissuer: %w", err)
		}
	}
	return k, nil
}

func parsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var (
		k   any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block type %q is not a private key; want \"PRIVATE KEY\"", block.Type)
	}
	if err != nil {
		return nil, err
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return s, nil
}

// thumbprintRSA is the RFC 7638 JWK thumbprint, used as a stable kid.
func thumbprintRSA(k *rsa.PublicKey) string {
	e := big.NewInt(int64(k.E)).Bytes()
	return thumbprint(`{"e":"` + b64(e) + `","kty":"RSA","n":"` + b64(k.N.Bytes()) + `"}`)
}

func thumbprintEC(k *ecdsa.PublicKey) string {
	raw, err := k.Bytes() // uncompressed point 0x04 || X || Y
	if err != nil {
		// Only reachable for keys not on a NIST curve; newKeyPair checks P-256.
		panic(err)
	}
	x, y := raw[1:33], raw[33:65]
	return thumbprint(`{"crv":"P-256","kty":"EC","x":"` + b64(x) + `","y":"` + b64(y) + `"}`)
}

func thumbprint(canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return b64(sum[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
