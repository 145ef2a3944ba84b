package confload

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/sei-edge/servicenow-edge/relay/secret"
)

// SecretFile is one secret with a *_file variant: Key is the secret's key
// path ("store.dsn"), File the path given in Key+"_file", Dst the secret.
type SecretFile struct {
	Key  string
	File string
	Dst  *secret.Secret
}

// ReadSecretFiles fills each secret from its file (trailing line breaks
// dropped). Setting both the secret and its file is a problem, as is a
// file that cannot be read; the problem names the key, never the content.
func ReadSecretFiles(files ...SecretFile) Problems {
	var p Problems
	for _, f := range files {
		if f.File == "" {
			continue
		}
		if *f.Dst != "" {
			p.Add(f.Key+"_file", "set only one of %s and %s_file", f.Key, f.Key)
			continue
		}
		b, err := os.ReadFile(f.File)
		if err != nil {
			p.Add(f.Key+"_file", "%v", err)
			continue
		}
		*f.Dst = secret.Secret(strings.TrimRight(string(b), "\r\n"))
	}
	return p
}

// ResolvePaths makes every relative path in paths relative to dir (the
// configuration file's folder, never the working directory: a Windows
// service starts in System32).
func ResolvePaths(dir string, paths ...*string) {
	for _, p := range paths {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}
