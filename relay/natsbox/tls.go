package natsbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
)

// Files of the generated development PKI, inside data_dir/tls.
const (
	TLSDir        = "tls"
	CAFile        = "ca.pem"
	caKeyFile     = "ca-key.pem"
	certFile      = "server.pem"
	certKeyFile   = "server-key.pem"
	certLifetime  = 2 * 365 * 24 * time.Hour
	caLifetime    = 10 * 365 * 24 * time.Hour
	renewBefore   = 30 * 24 * time.Hour
	defaultSerial = 62
)

// DevCert makes sure dir holds a development CA (ca.pem, ca-key.pem) and a
// server certificate signed by it (server.pem, server-key.pem) valid for
// every name in hosts, and returns the certificate and key paths. An
// existing CA is kept (agents already trust it); the server certificate is
// re-issued when it is missing, expires within 30 days, or misses a host.
func DevCert(dir string, hosts []string) (cert, key string, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("create tls directory %s: %w", dir, err)
	}
	ca, caKey, err := loadOrCreateCA(dir)
	if err != nil {
		return "", "", err
	}
	cert, key = filepath.Join(dir, certFile), filepath.Join(dir, certKeyFile)
	if certCovers(cert, key, hosts) {
		return cert, key, nil
	}
	if err := issueServerCert(cert, key, ca, caKey, hosts); err != nil {
		return "", "", err
	}
	return cert, key, nil
}

func loadOrCreateCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	caPath, keyPath := filepath.Join(dir, CAFile), filepath.Join(dir, caKeyFile)
	if pair, err := tls.LoadX509KeyPair(caPath, keyPath); err == nil {
		c, err := x509.ParseCertificate(pair.Certificate[0])
		k, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
		if err == nil && ok && time.Until(c.NotAfter) > renewBefore {
			return c, k, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("load development CA %s: %w", caPath, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate CA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "sei-relay development CA", Organization: []string{"SEI ServiceNow Edge"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA certificate: %w", err)
	}
	if err := writePEM(keyPath, "EC PRIVATE KEY", mustMarshalEC(key), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writePEM(caPath, "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	c, err := x509.ParseCertificate(der)
	return c, key, err
}

func issueServerCert(certPath, keyPath string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, hosts []string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate server key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "sei-relay", Organization: []string{"SEI ServiceNow Edge"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("create server certificate: %w", err)
	}
	if err := writePEM(keyPath, "EC PRIVATE KEY", mustMarshalEC(key), 0o600); err != nil {
		return err
	}
	return writePEM(certPath, "CERTIFICATE", der, 0o644)
}

// certCovers reports whether the certificate at certPath loads with its key,
// stays valid for 30 more days and names every host.
func certCovers(certPath, keyPath string, hosts []string) bool {
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return false
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || time.Until(c.NotAfter) < renewBefore {
		return false
	}
	for _, h := range hosts {
		if h != "" && c.VerifyHostname(h) != nil {
			return false
		}
	}
	return true
}

func writePEM(path, typ string, der []byte, perm os.FileMode) error {
	data := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	if err := enroll.WriteFileAtomic(path, data, perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func mustMarshalEC(k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err) // only fails for unsupported curves; P-256 is supported
	}
	return der
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), defaultSerial))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}
