package buffer

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tableRSS sums the resident and the mapped kilobytes of the process's
// mappings of .sst files in dir.
func tableRSS(t *testing.T, dir string) (kb, mapped int) {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 6 && strings.Contains(fields[0], "-") {
			path := strings.Join(fields[5:], " ")
			in = strings.HasSuffix(path, ".sst") && filepath.Dir(path) == dir
			continue
		}
		if in && len(fields) >= 2 && (fields[0] == "Rss:" || fields[0] == "Size:") {
			n, _ := strconv.Atoi(fields[1])
			if fields[0] == "Rss:" {
				kb += n
			} else {
				mapped += n
			}
		}
	}
	return kb, mapped
}

// TestTablesNotResident: the tables Badger writes through shared mappings
// (flushes and compactions) do not stay in the process's resident set.
func TestTablesNotResident(t *testing.T) {
	probe, err := syscall.Mmap(-1, 0, 4096, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Skip(err)
	}
	if err := syscall.Madvise(probe, unix.MADV_PAGEOUT); err != nil {
		t.Skipf("kernel without MADV_PAGEOUT: %v", err)
	}
	_ = syscall.Munmap(probe)

	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := openTest(t, Options{Dir: dir})
	const batches, size = 48, 640 << 10 // 30 MiB: several memtable flushes
	for i := range batches {
		if _, err := b.Append(t.Context(), Batch{Label: "t", Records: 1, Data: payload(byte(i), size)},
			map[string][]byte{fmt.Sprintf("rx/t/%08d", i*7919%batches): []byte("entry")}); err != nil {
			t.Fatal(err)
		}
	}
	checkFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		b.settled() // as Run does: compact level 0, then release what it wrote
		kb, mapped := tableRSS(t, dir)
		if mapped == 0 {
			return fmt.Errorf("no table mapped yet after %d MiB written", batches*size>>20)
		}
		// Without the release all of it is resident; pages still under
		// writeback, and those reads touched since, may stay.
		if kb > mapped/4 {
			return fmt.Errorf("%d KiB of %d KiB of mapped tables resident", kb, mapped)
		}
		return nil
	})
}
