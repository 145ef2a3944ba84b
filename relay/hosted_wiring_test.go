package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostedKeyRequired: a relay whose hosted.secret_key_file cannot be
// read, or does not hold a key, refuses to start (exit 2) and says which
// key to fix, without showing the file's content.
func TestHostedKeyRequired(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("not-a-key-SEKRIT"), 0o600)
	for _, key := range []string{filepath.Join(dir, "missing.key"), short} {
		cfg := writeConfig(t, dir, "data_dir: data\nhttp: {listen: \"127.0.0.1:0\", token: t}\nnats: {listen: \"127.0.0.1:0\"}\nlog: {level: error}\nhosted: {secret_key_file: "+key+"}\n")
		code, _, stderr := runCmd(t, "run", "-c", cfg)
		if code != 2 || !strings.Contains(stderr, "hosted.secret_key_file") || strings.Contains(stderr, "SEKRIT") {
			t.Errorf("key %s: exit %d, stderr:\n%s", filepath.Base(key), code, stderr)
		}
	}
	cfg := writeConfig(t, dir, "data_dir: data\nhosted: {public_url: \"https://sei.example.com\"}\n")
	if code, _, stderr := runCmd(t, "run", "-c", cfg); code != 2 || !strings.Contains(stderr, "hosted.secret_key_file: required") {
		t.Errorf("public_url without a key: exit %d\n%s", code, stderr)
	}
}
