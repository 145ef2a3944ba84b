package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/sei-edge/servicenow-edge/relay/config"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	return certFile, keyFile
}

// TestListenHTTPTLSAndWarning: with http.tls the listener speaks TLS and
// nothing is warned; plain HTTP on a non-loopback address is warned about,
// on loopback it is not.
func TestListenHTTPTLSAndWarning(t *testing.T) {
	cert, key := selfSigned(t, t.TempDir())
	var logs bytes.Buffer
	log := zerolog.New(&logs)
	ln, err := listenHTTP(config.HTTP{Listen: "127.0.0.1:0", TLS: config.HTTPTLS{CertFile: cert, KeyFile: key}}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	errc := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			err = c.(*tls.Conn).Handshake()
			c.Close()
		}
		errc <- err
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // self-signed test cert
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	c.Close()
	if err := <-errc; err != nil {
		t.Errorf("server handshake: %v", err)
	}

	for _, tc := range []struct {
		listen string
		warn   bool
	}{{"127.0.0.1:0", false}, {"0.0.0.0:0", true}} {
		logs.Reset()
		ln, err := listenHTTP(config.HTTP{Listen: tc.listen}, log)
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
		if got := strings.Contains(logs.String(), "plain HTTP on a non-loopback"); got != tc.warn {
			t.Errorf("listen %s: warned %v, want %v: %s", tc.listen, got, tc.warn, logs.String())
		}
	}
	if _, err := listenHTTP(config.HTTP{Listen: "127.0.0.1:0", TLS: config.HTTPTLS{CertFile: key, KeyFile: cert}}, log); err == nil ||
		!strings.Contains(err.Error(), "http.tls") {
		t.Errorf("bad key pair: %v", err)
	}
}
