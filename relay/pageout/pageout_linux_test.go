package pageout

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestMapRange(t *testing.T) {
	for line, want := range map[string][2]uintptr{
		"7f0000000000-7f0000400000 r--s 00000000 08:01 123 /data/store/000001.vlog": {0x7f0000000000, 0x7f0000400000},
		"garbage":              {},
		"10-5 r--s 0 0:0 0 /x": {},
	} {
		s, e, ok := mapRange([]byte(line))
		if ok != (want != [2]uintptr{}) || s != want[0] || e != want[1] {
			t.Errorf("mapRange(%q) = %x, %x, %v; want %x, %x", line, s, e, ok, want[0], want[1])
		}
	}
}

// TestDirAdvisesOnlyMatchingMappings maps two files under a folder and
// one outside it: Dir advises exactly the matching one, and its data reads
// back intact.
func TestDirAdvisesOnlyMatchingMappings(t *testing.T) {
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	mapFile := func(path string) []byte {
		if err := os.WriteFile(path, []byte("resident data"), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		m, err := syscall.Mmap(int(f.Fd()), 0, 13, syscall.PROT_READ, syscall.MAP_SHARED)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Munmap(m) })
		_ = m[0] // fault it in
		return m
	}
	table := mapFile(filepath.Join(dir, "000001.sst"))
	mapFile(filepath.Join(dir, "000001.vlog"))
	mapFile(filepath.Join(other, "000002.sst"))

	n, err := Dir(dir, func(p string) bool { return filepath.Ext(p) == ".sst" })
	if err != nil {
		t.Skipf("kernel without MADV_PAGEOUT: %v", err)
	}
	if n != 1 {
		t.Fatalf("advised %d mappings, want 1 (the .sst under %s)", n, dir)
	}
	if string(table) != "resident data" {
		t.Fatalf("after the page-out the mapping reads %q", table)
	}
	if n, _ := Dir(dir, nil); n != 2 {
		t.Fatalf("with no filter advised %d mappings, want 2", n)
	}
}
