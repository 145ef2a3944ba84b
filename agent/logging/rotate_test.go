package logging

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// logFiles returns the names in dir, sorted.
func logFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestRotatingFileRotatesAndCapsBackups(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "log")
	path := filepath.Join(dir, "a.log")
	r, err := OpenRotatingFile(path, 10, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Each line is 6 bytes; the second does not fit in 10, so every write
	// after the first rotates.
	for _, line := range []string{"one-1\n", "two-2\n", "thr-3\n", "fou-4\n"} {
		if _, err := r.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"a.log", "a.log.1", "a.log.2"}, logFiles(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	got := map[string]string{
		"a.log":   read(t, path),
		"a.log.1": read(t, path+".1"),
		"a.log.2": read(t, path+".2"),
	}
	want := map[string]string{"a.log": "fou-4\n", "a.log.1": "thr-3\n", "a.log.2": "two-2\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("contents (-want +got):\n%s", diff)
	}
	if runtime.GOOS != "windows" {
		for _, name := range logFiles(t, dir) {
			st, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s mode = %v, want 0600", name, st.Mode().Perm())
			}
		}
		st, err := os.Stat(dir)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("dir mode = %v, want 0700", st.Mode().Perm())
		}
	}
}

func TestRotatingFileAppendsAcrossReopenAndTightensMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := OpenRotatingFile(path, 100, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Write([]byte("new\n")); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := r.Write([]byte("late\n")); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("Write after Close = %v, want fs.ErrClosed", err)
	}
	if got := read(t, path); got != "old\nnew\n" {
		t.Errorf("content = %q", got)
	}
	if runtime.GOOS != "windows" {
		st, _ := os.Stat(path)
		if st.Mode().Perm() != 0o600 {
			t.Errorf("mode = %v, want 0600", st.Mode().Perm())
		}
	}
}

func TestRotatingFileOversizedWriteAndNoBackups(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	r, err := OpenRotatingFile(path, 4, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, line := range []string{"ab\n", "0123456789\n", "cd\n"} {
		if _, err := r.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"a.log"}, logFiles(t, dir)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if got := read(t, path); got != "cd\n" {
		t.Errorf("content = %q, want the last line only", got)
	}
}

func TestRotatingFileRejectsBadLimits(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenRotatingFile(filepath.Join(dir, "a"), 0, 1); err == nil {
		t.Error("maxBytes 0 accepted")
	}
	if _, err := OpenRotatingFile(filepath.Join(dir, "b"), 1, -1); err == nil {
		t.Error("maxBackups -1 accepted")
	}
}

func TestRotatingFileConcurrentWritesStayWhole(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.log")
	const writers, lines = 8, 200
	r, err := OpenRotatingFile(path, 4096, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			line := []byte(strings.Repeat(string(rune('a'+w)), 63) + "\n")
			for range lines {
				if _, err := r.Write(line); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	var all bytes.Buffer
	for _, name := range logFiles(t, dir) {
		b := read(t, filepath.Join(dir, name))
		if len(b) > 4096 {
			t.Errorf("%s has %d bytes, over the 4096 limit", name, len(b))
		}
		all.WriteString(b)
	}
	got := strings.Split(strings.TrimSuffix(all.String(), "\n"), "\n")
	if len(got) != writers*lines {
		t.Fatalf("got %d lines, want %d", len(got), writers*lines)
	}
	for i, l := range got {
		if len(l) != 63 || strings.Count(l, l[:1]) != 63 {
			t.Fatalf("line %d is torn: %q", i, l)
		}
	}
}
