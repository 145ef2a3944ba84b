package natsbox

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/sei-edge/servicenow-edge/relay/enroll"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDevCert(t *testing.T) {
	dir := t.TempDir()
	cert, key, err := DevCert(dir, []string{"localhost", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ca := readCert(t, filepath.Join(dir, CAFile))
	c := readCert(t, cert)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := c.Verify(x509.VerifyOptions{Roots: pool, DNSName: "localhost"}); err != nil {
		t.Errorf("server cert does not verify against the CA: %v", err)
	}
	for _, f := range []string{key, filepath.Join(dir, caKeyFile)} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, err %v; want 0600", f, fi.Mode().Perm(), err)
		}
	}

	// Same hosts: nothing re-issued.
	if _, _, err := DevCert(dir, []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	if again := readCert(t, cert); again.SerialNumber.Cmp(c.SerialNumber) != 0 {
		t.Error("certificate re-issued although it covers the hosts")
	}
	// A new host: new server certificate, same CA (agents keep trusting it).
	if _, _, err := DevCert(dir, []string{"localhost", "relay.example.com"}); err != nil {
		t.Fatal(err)
	}
	c2 := readCert(t, cert)
	if err := c2.VerifyHostname("relay.example.com"); err != nil {
		t.Errorf("re-issued cert: %v", err)
	}
	if ca2 := readCert(t, filepath.Join(dir, CAFile)); !ca2.Equal(ca) {
		t.Error("CA replaced")
	}
}

func TestTLSIsVerified(t *testing.T) {
	r := startRelay(t)
	if !strings.HasPrefix(r.ClientURL(), "tls://127.0.0.1:") {
		t.Fatalf("ClientURL = %q", r.ClientURL())
	}
	seed := nats.UserCredentials(filepath.Join(r.dir, enroll.AdminCredsFile))
	// Without the CA: the client rejects the certificate.
	if nc, err := nats.Connect(r.ClientURL(), seed, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("connected without trusting the development CA")
	}
	// nats:// to a TLS-required server: nats.go upgrades to TLS, which
	// still needs the CA; there is no plaintext path.
	plain := strings.Replace(r.ClientURL(), "tls://", "nats://", 1)
	if nc, err := nats.Connect(plain, seed, nats.MaxReconnects(0)); err == nil {
		nc.Close()
		t.Error("connected over nats:// without trusting the development CA")
	}
}
