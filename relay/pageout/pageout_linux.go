package pageout

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Dir asks the kernel to reclaim the resident pages of every mapping, in
// this process, of a file under dir (an absolute path without symlinks)
// that match accepts (nil accepts every file), and returns how many
// mappings it advised. match gets the file's path.
func Dir(dir string, match func(path string) bool) (int, error) {
	raw, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("page out %s: %w", dir, err)
	}
	prefix := []byte(" " + dir + string(os.PathSeparator))
	advised := 0
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.Index(line, prefix)
		if i < 0 || (match != nil && !match(string(line[i+1:]))) {
			continue
		}
		start, end, ok := mapRange(line)
		if !ok {
			continue
		}
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_PAGEOUT)
		switch {
		case errno == 0:
			advised++
		case errors.Is(errno, unix.ENOMEM): // unmapped since /proc/self/maps was read
		default:
			return advised, fmt.Errorf("page out %s: madvise(MADV_PAGEOUT) (needs Linux 5.4 or later): %w", dir, errno)
		}
	}
	return advised, nil
}

// mapRange parses the "start-end" address range at the head of a line of
// /proc/self/maps.
func mapRange(line []byte) (start, end uintptr, ok bool) {
	sp := bytes.IndexByte(line, ' ')
	if sp < 0 {
		return 0, 0, false
	}
	a, b, found := bytes.Cut(line[:sp], []byte("-"))
	if !found {
		return 0, 0, false
	}
	s, err1 := strconv.ParseUint(string(a), 16, 64)
	e, err2 := strconv.ParseUint(string(b), 16, 64)
	if err1 != nil || err2 != nil || e <= s {
		return 0, 0, false
	}
	return uintptr(s), uintptr(e), true
}
