package hosted

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSealerRoundTripAndBinding(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	s, err := NewSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := s.Seal("hunter2-secret", "acme.snow")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, "hunter2") {
		t.Fatalf("sealed value holds the secret: %s", sealed)
	}
	again, _ := s.Seal("hunter2-secret", "acme.snow")
	if again == sealed {
		t.Error("two seals of one secret are equal: the nonce is not random")
	}
	if got, err := s.Open(sealed, "acme.snow"); err != nil || got != "hunter2-secret" {
		t.Fatalf("open = %q, %v", got, err)
	}
	if _, err := s.Open(sealed, "globex.snow"); err == nil {
		t.Error("a secret sealed for acme.snow opened for globex.snow")
	}
	other, _ := NewSealer(bytes.Repeat([]byte{8}, 32))
	if _, err := other.Open(sealed, "acme.snow"); err == nil || !strings.Contains(err.Error(), KeyFileKey) {
		t.Errorf("open under another key: %v, want an error naming %s", err, KeyFileKey)
	}
	flipped := []byte(sealed)
	flipped[len(flipped)-2] ^= 1
	if _, err := s.Open(string(flipped), "acme.snow"); err == nil {
		t.Error("a damaged sealed value opened")
	}
	if v, err := s.Seal("", "x"); v != "" || err != nil {
		t.Errorf("empty secret sealed to %q, %v", v, err)
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	key := bytes.Repeat([]byte{0xab}, 32)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, path string
		ok         bool
	}{
		{"hex with newline", write("hex", []byte(hex.EncodeToString(key)+"\n")), true},
		{"base64", write("b64", []byte(base64.StdEncoding.EncodeToString(key))), true},
		{"raw", write("raw", key), true},
		{"short", write("short", []byte("abcd")), false},
		{"missing", filepath.Join(dir, "nope"), false},
		{"unset", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadKey(tc.path)
			if tc.ok != (err == nil) {
				t.Fatalf("LoadKey: %v", err)
			}
			if err != nil {
				if !strings.Contains(err.Error(), KeyFileKey) {
					t.Errorf("error does not name %s: %v", KeyFileKey, err)
				}
				if strings.Contains(err.Error(), "abcd") {
					t.Errorf("error shows the file's content: %v", err)
				}
				return
			}
			sealed, _ := s.Seal("x", "a")
			if got, err := s.Open(sealed, "a"); got != "x" || err != nil {
				t.Errorf("round trip: %q %v", got, err)
			}
		})
	}
}
