package bundle

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// maxLogFiles bounds how many files LogFiles returns.
const maxLogFiles = 5

// LogFiles returns path and the rotated files beside it whose names start
// with path's name (agent.log.1, agent-2026-11-28.log, agent.log.gz are not
// distinguished), newest first, at most five. A missing path gives nil.
func LogFiles(path string) []string {
	if path == "" {
		return nil
	}
	dir, base := filepath.Split(path)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	entries, err := os.ReadDir(filepath.Clean(dir + "."))
	if err != nil {
		return nil
	}
	type logFile struct {
		path string
		mod  int64
	}
	var found []logFile
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), stem) || strings.HasSuffix(e.Name(), ".gz") {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		found = append(found, logFile{filepath.Join(dir, e.Name()), fi.ModTime().UnixNano()})
	}
	current := filepath.Clean(path)
	slices.SortFunc(found, func(a, b logFile) int {
		switch {
		case a.path == current:
			return -1
		case b.path == current:
			return 1
		case a.mod != b.mod:
			return cmp.Compare(b.mod, a.mod)
		}
		return strings.Compare(a.path, b.path)
	})
	var out []string
	for _, f := range found[:min(len(found), maxLogFiles)] {
		out = append(out, f.path)
	}
	return out
}
