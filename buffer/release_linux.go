package buffer

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// madvPageout is MADV_PAGEOUT (Linux 5.4): reclaim the pages of a range
// now. Unlike MADV_DONTNEED it never discards data, whatever the range
// holds by the time it is called: file pages are written back first and
// read again on the next access, anonymous pages go to swap or stay.
const madvPageout = 21

// releaseTables pages out the process's mappings of the buffer's table
// files. Badger writes every table it makes through a shared mapping and
// keeps it mapped, so each table a flush or a compaction wrote stayed in
// the agent's resident set: with the forwarded index, that grew with the
// records ever synced (a 1,000,000-record backfill leaves about 70 MiB of
// tables). The pages are clean (Badger msyncs a table before using it)
// and are read back from the file when a read needs them. Errors are
// ignored: this only saves memory, and kernels before 5.4 refuse the
// advice.
func releaseTables(dir string) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset dev inode path
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 {
			continue
		}
		path := strings.Join(fields[5:], " ")
		if !strings.HasSuffix(path, ".sst") || filepath.Dir(path) != dir {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), madvPageout)
	}
}
