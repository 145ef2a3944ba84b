package hosted

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
)

// KeyFileKey is the configuration key that names the secret key file, for
// the errors a user sees.
const KeyFileKey = "hosted.secret_key_file"

// sealPrefix marks a sealed value and its format version.
const sealPrefix = "v1:"

// Sealer encrypts the integrations' secrets with AES-256-GCM. It is safe for
// concurrent use.
type Sealer struct{ aead cipher.AEAD }

// LoadKey reads the 32-byte key from path: 64 hex digits or standard base64
// (a trailing newline is fine), or exactly 32 raw bytes. Errors name
// hosted.secret_key_file and never show the file's content.
func LoadKey(path string) (*Sealer, error) {
	if path == "" {
		return nil, fmt.Errorf("%s: required to enable hosted integrations (a file holding 32 random bytes, e.g. `openssl rand -hex 32`)", KeyFileKey)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", KeyFileKey, err)
	}
	key, err := parseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", KeyFileKey, path, err)
	}
	return NewSealer(key)
}

func parseKey(raw []byte) ([]byte, error) {
	if len(raw) == 32 {
		return raw, nil
	}
	text := string(bytes.TrimSpace(raw))
	if k, err := hex.DecodeString(text); err == nil && len(k) == 32 {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(text); err == nil && len(k) == 32 {
		return k, nil
	}
	return nil, errors.New("must hold a 32-byte key: 64 hex digits, base64 of 32 bytes, or 32 raw bytes (`openssl rand -hex 32`)")
}

// NewSealer returns a Sealer for a 32-byte key.
func NewSealer(key []byte) (*Sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("secret key: need 32 bytes, got %d", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secret key: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal encrypts plain, bound to aad (the integration id); "" stays "".
func (s *Sealer) Seal(plain, aad string) (string, error) {
	if plain == "" {
		return "", nil
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("seal secret: %w", err)
	}
	out := s.aead.Seal(nonce, nonce, []byte(plain), []byte(aad))
	return sealPrefix + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts a value of Seal with the same aad; "" stays "". A value
// sealed under another key or for another integration is an error.
func (s *Sealer) Open(sealed, aad string) (string, error) {
	if sealed == "" {
		return "", nil
	}
	if len(sealed) < len(sealPrefix) || sealed[:len(sealPrefix)] != sealPrefix {
		return "", errors.New("open secret: unknown format")
	}
	raw, err := base64.RawStdEncoding.DecodeString(sealed[len(sealPrefix):])
	if err != nil || len(raw) < s.aead.NonceSize() {
		return "", errors.New("open secret: damaged value")
	}
	n := s.aead.NonceSize()
	plain, err := s.aead.Open(nil, raw[:n], raw[n:], []byte(aad))
	if err != nil {
		return "", fmt.Errorf("open secret: wrong %s or damaged value", KeyFileKey)
	}
	return string(plain), nil
}
